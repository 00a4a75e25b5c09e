//! The `--config` file: a TOML table whose keys are the long flags of `serve` and the
//! global flags, with '_' for '-'. It is a layer under the command line and the
//! environment: its values become the flags' defaults, so a flag or its environment
//! variable wins, and a declared default applies only where the file is silent.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Args, CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, GlobalArgs, ServeArgs};

/// Flags with a variable that are no setting of the file: it cannot name itself, and a
/// demo is asked for on the command line. (`--json` has no variable either.)
const FLAG_ONLY: [&str; 2] = ["config", "demo"];

/// A settings file, read and checked: each key a setting, each value as its flag takes
/// it (an array as the flag repeated).
#[derive(Debug, Default)]
pub struct SettingsFile {
    path: PathBuf,
    values: BTreeMap<String, Vec<String>>,
}

/// The command line over the environment over the `--config` file over the defaults; and
/// the file, for commands that also need `serve`'s view of it. Help, version and mistakes
/// on the command line end the process here, as with `Cli::parse`.
pub fn parse_command_line() -> anyhow::Result<(Cli, SettingsFile)> {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let given = Cli::command().get_matches_from(&argv);
    let path = Cli::from_arg_matches(&given)?.global.config;
    let file = SettingsFile::load(path.as_deref())?;
    let cli = file.parse(&argv)?;
    Ok((cli, file))
}

impl SettingsFile {
    /// The file at `path`, or none.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::from_toml(path, &text)
    }

    /// The settings in `text`, read from `path`: every key must be a setting and every
    /// value one its flag accepts.
    pub fn from_toml(path: &Path, text: &str) -> anyhow::Result<Self> {
        let mistake = |key: &str, why: String| {
            anyhow::anyhow!("config file {}: `{key}`: {why}", path.display())
        };
        let table: toml::Table = toml::from_str(text)
            .with_context(|| format!("parsing config file {}", path.display()))?;
        let keys = file_keys(&settings_command());
        // Values are checked alone: without the environment, which might be wrong itself.
        let mut checker = settings_command().mut_args(|arg| arg.env(None));
        let mut values = BTreeMap::new();
        for (key, value) in table {
            if !keys.contains(&key) {
                let why = "unknown key (the keys are `guidepost serve`'s long flags and the \
                           global ones, with '_' for '-')";
                return Err(mistake(&key, why.into()));
            }
            let value = flag_values(&value).map_err(|why| mistake(&key, why.to_string()))?;
            let flags = value
                .iter()
                .map(|v| format!("--{}={v}", key.replace('_', "-")));
            if let Err(error) = checker.try_get_matches_from_mut(flags) {
                return Err(mistake(&key, clap_message(&error)));
            }
            values.insert(key, value);
        }
        Ok(Self {
            path: path.to_owned(),
            values,
        })
    }

    /// `argv` (and the environment) parsed with this file under it. It is parsed without
    /// the file first, to leave out file values that conflict with a flag or variable
    /// given (the file's `master_key` under `--master-key-file`).
    pub fn parse(&self, argv: &[OsString]) -> anyhow::Result<Cli> {
        let given = Cli::command().try_get_matches_from(argv)?;
        let matches = self
            .under(Cli::command(), Some(&given))
            .try_get_matches_from(argv)
            .map_err(|error| {
                anyhow::anyhow!(
                    "config file {}: {}",
                    self.path.display(),
                    clap_message(&error)
                )
            })?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        if let Ok(start_dir) = std::env::current_dir() {
            cli.resolve_paths(&start_dir);
        }
        Ok(cli)
    }

    /// `serve`'s settings from the environment and this file, for commands that write
    /// public URLs or manage upstreams as `serve` would.
    pub fn serve_args(&self) -> anyhow::Result<ServeArgs> {
        let argv = ["guidepost", "serve"].map(OsString::from);
        let parsed = self
            .parse(&argv)
            .context("serve's settings (environment and config file)")?;
        match parsed.command {
            Command::Serve(args) => Ok(*args),
            _ => unreachable!("parsed a serve command"),
        }
    }

    /// `command` and its subcommands with this file's values as their flags' defaults.
    fn under(&self, mut command: clap::Command, given: Option<&ArgMatches>) -> clap::Command {
        let layered: Vec<(clap::Id, &Vec<String>)> = command
            .get_arguments()
            .filter(|arg| !given.is_some_and(|given| conflicts_with_given(&command, given, arg)))
            .filter_map(|arg| Some((arg.get_id().clone(), self.values.get(&setting_key(arg)?)?)))
            .collect();
        for (id, values) in layered {
            command = command.mut_arg(id, |arg| arg.default_values(values));
        }
        let names: Vec<String> = command
            .get_subcommands()
            .map(|sub| sub.get_name().to_owned())
            .collect();
        for name in names {
            let given = given.and_then(|given| given.subcommand_matches(&name));
            command = command.mut_subcommand(name, |sub| self.under(sub, given));
        }
        command
    }
}

/// The flags the file may set: `serve`'s and the global ones.
fn settings_command() -> clap::Command {
    let command = clap::Command::new("config file").no_binary_name(true);
    ServeArgs::augment_args(GlobalArgs::augment_args(command))
}

fn file_keys(settings: &clap::Command) -> Vec<String> {
    settings
        .get_arguments()
        .filter_map(setting_key)
        .filter(|key| !FLAG_ONLY.contains(&key.as_str()))
        .collect()
}

/// The file key of a flag that is a setting: its long name with '_' for '-', where its
/// environment variable is `GUIDEPOST_` and that key in capitals. (A flag of another
/// command that only shares a setting's name is not that setting.)
fn setting_key(arg: &Arg) -> Option<String> {
    let key = arg.get_long()?.replace('-', "_");
    let variable = format!("GUIDEPOST_{}", key.to_ascii_uppercase());
    (arg.get_env()? == std::ffi::OsStr::new(&variable)).then_some(key)
}

/// A TOML value as its flag takes it: an array as the flag repeated.
fn flag_values(value: &toml::Value) -> anyhow::Result<Vec<String>> {
    match value {
        toml::Value::Array(items) => items.iter().map(scalar).collect(),
        value => Ok(vec![scalar(value)?]),
    }
}

fn scalar(value: &toml::Value) -> anyhow::Result<String> {
    match value {
        toml::Value::String(text) => Ok(text.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(x) => Ok(x.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(at) => Ok(at.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => Err(anyhow::anyhow!(
            "{value} is not a setting's value (a string, number or boolean, or an array of them)"
        )),
    }
}

/// Whether a flag given (on the command line or in the environment) conflicts with `arg`.
fn conflicts_with_given(command: &clap::Command, given: &ArgMatches, arg: &Arg) -> bool {
    let explicit = |other: &&Arg| {
        matches!(
            given.value_source(other.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        )
    };
    let names = |a: &Arg, b: &Arg| {
        command
            .get_arg_conflicts_with(a)
            .iter()
            .any(|c| c.get_id() == b.get_id())
    };
    command
        .get_arguments()
        .filter(explicit)
        .any(|other| names(arg, other) || names(other, arg))
}

/// A clap error's first line, without its "error: " (the rest is usage, for a terminal).
fn clap_message(error: &clap::Error) -> String {
    let text = error.to_string();
    let line = text.lines().next().unwrap_or_default();
    line.strip_prefix("error: ").unwrap_or(line).to_owned()
}
