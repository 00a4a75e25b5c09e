//! The configuration reference (docs/operator/configuration.md) is generated from the
//! clap declarations of `guidepost serve` and the global flags: each flag with its
//! variable, file key, default and help, as `guidepost serve --help` has them. A flag
//! added, removed or reworded without the reference regenerated fails here; run
//! `GUIDEPOST_BLESS=1 cargo test -p guidepost --lib cli::readme` to write it again.
//! And no recipe of the documents puts the master key on a command line.

use std::path::{Path, PathBuf};

use clap::{Arg, CommandFactory};

use crate::config::SettingsFile;

/// Where the generated tables go in the reference, between these two lines.
const BEGIN: &str = "<!-- generated from the flags: GUIDEPOST_BLESS=1 cargo test -p guidepost --lib cli::readme -->";
const END: &str = "<!-- end of the generated tables -->";

/// Flags with a variable that are no setting of the `--config` file (as `config::file`
/// has them): the file cannot name itself, and a demo is asked for on the command line.
const FLAG_ONLY: [&str; 2] = ["config", "demo"];

/// The documents that give recipes with the master key.
const RECIPES: [&str; 4] = [
    include_str!("../../../../README.md"),
    include_str!("../../../../docs/operator/configuration.md"),
    include_str!("../../../../docs/operator/security-model.md"),
    include_str!("../../../../docs/user/connect-a-client.md"),
];

fn reference_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/operator/configuration.md")
}

/// The flags `serve` takes (its own first, then the global ones), as clap declares them.
fn serve_flags() -> (Vec<Arg>, Vec<Arg>) {
    let mut cli = super::Cli::command();
    cli.build();
    let serve = cli
        .find_subcommand("serve")
        .expect("the CLI has serve")
        .clone();
    let flags: Vec<Arg> = serve
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter(|arg| arg.get_long().is_some_and(|l| l != "help"))
        .cloned()
        .collect();
    flags.into_iter().partition(|arg| !arg.is_global_set())
}

/// The file key of a flag: its long name with '_' for '-', where its variable is
/// `GUIDEPOST_` and that key in capitals, and it is not [`FLAG_ONLY`].
fn file_key(arg: &Arg) -> Option<String> {
    let key = arg.get_long()?.replace('-', "_");
    let variable = format!("GUIDEPOST_{}", key.to_ascii_uppercase());
    let is_setting = arg.get_env().is_some_and(|env| env == variable.as_str());
    (is_setting && !FLAG_ONLY.contains(&key.as_str())).then_some(key)
}

/// A help text on one line, with `[default: …]` taken out and returned apart.
fn help_and_default(arg: &Arg) -> (String, Option<String>) {
    let help = arg
        .get_long_help()
        .or(arg.get_help())
        .map(|h| h.to_string())
        .unwrap_or_default();
    let mut help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut written_default = None;
    if let Some(at) = help.find("[default: ")
        && let Some(end) = help[at..].find(']')
    {
        written_default = Some(help[at + "[default: ".len()..at + end].to_owned());
        help = format!("{}{}", &help[..at], &help[at + end + 1..])
            .trim()
            .to_owned();
    }
    (help, written_default)
}

fn default_of(arg: &Arg, written: Option<String>) -> String {
    let declared: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    match (declared.is_empty(), written) {
        (false, _) => format!("`{}`", declared.join(",")),
        // A default in words ("the listen port") stays words; a value is code.
        (true, Some(written)) if written.starts_with("the ") => written,
        (true, Some(written)) => format!("`{written}`"),
        (true, None) => "none".into(),
    }
}

/// The values a flag takes, when it names them (an enum's), and not a boolean's.
fn choices(arg: &Arg) -> Option<String> {
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    let boolean = values.iter().all(|v| v == "`true`" || v == "`false`");
    (!values.is_empty() && !boolean).then(|| values.join(", "))
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn table(flags: &[Arg]) -> String {
    let mut out = String::from("| flag | variable | file key | default | meaning |\n");
    out.push_str("|---|---|---|---|---|\n");
    for arg in flags {
        let long = arg.get_long().expect("only long flags are listed");
        let variable = arg
            .get_env()
            .map_or("–".into(), |env| format!("`{}`", env.to_string_lossy()));
        let key = file_key(arg).map_or("–".into(), |key| format!("`{key}`"));
        let (mut help, written) = help_and_default(arg);
        if let Some(choices) = choices(arg) {
            help = format!("{help} ({choices})");
        }
        let default = default_of(arg, written);
        out.push_str(&format!(
            "| `--{long}` | {variable} | {key} | {} | {} |\n",
            cell(&default),
            cell(&help)
        ));
    }
    out
}

/// The generated part of the reference, between [`BEGIN`] and [`END`].
fn generated() -> String {
    let (own, global) = serve_flags();
    format!(
        "{BEGIN}\n\n`guidepost serve`'s own flags:\n\n{}\nThe flags that every command takes:\n\n{}\n{END}",
        table(&own),
        table(&global)
    )
}

/// The reference with its generated part replaced by `generated`.
fn with_generated(reference: &str, generated: &str) -> String {
    let begin = reference
        .find(BEGIN)
        .expect("configuration.md holds the generated tables' first line");
    let end = reference[begin..]
        .find(END)
        .map(|at| begin + at + END.len())
        .expect("configuration.md holds the generated tables' last line");
    format!("{}{generated}{}", &reference[..begin], &reference[end..])
}

#[test]
fn the_configuration_reference_is_generated_from_the_flags() {
    let path = reference_path();
    let reference = std::fs::read_to_string(&path).expect("docs/operator/configuration.md");
    let expected = with_generated(&reference, &generated());
    if std::env::var("GUIDEPOST_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, &expected).expect("writing docs/operator/configuration.md");
        return;
    }
    assert!(
        reference == expected,
        "docs/operator/configuration.md is not what the flags declare; regenerate it with\n\
         GUIDEPOST_BLESS=1 cargo test -p guidepost --lib cli::readme\nand commit the result"
    );
}

/// The file keys the reference lists are those the `--config` file takes, and no other.
#[test]
fn the_file_keys_listed_are_the_ones_the_config_file_takes() {
    let (own, global) = serve_flags();
    let path = Path::new("guidepost.toml");
    for arg in own.iter().chain(&global) {
        let long = arg.get_long().unwrap();
        let toml = format!("{} = \"0\"", long.replace('-', "_"));
        let unknown = SettingsFile::from_toml(path, &toml)
            .err()
            .is_some_and(|error| error.to_string().contains("unknown key"));
        assert_eq!(
            file_key(arg).is_some(),
            !unknown,
            "--{long}: the reference and the config file disagree on its key"
        );
    }
}

/// Every local user reads a process's command line (`ps`), so no recipe of the documents
/// gives the master key as `--master-key VALUE`; the flag's own table row names it.
#[test]
fn no_readme_recipe_puts_the_master_key_on_a_command_line() {
    let given_on_a_command_line: Vec<&str> = RECIPES
        .iter()
        .flat_map(|text| text.lines())
        .filter(|line| !line.starts_with("| `--master-key"))
        .filter(|line| {
            line.match_indices("--master-key")
                .any(|(at, flag)| matches!(line[at + flag.len()..].chars().next(), Some(' ' | '=')))
        })
        .collect();
    assert!(
        given_on_a_command_line.is_empty(),
        "recommend --master-key-file or GUIDEPOST_MASTER_KEY instead:\n{}",
        given_on_a_command_line.join("\n")
    );
}
