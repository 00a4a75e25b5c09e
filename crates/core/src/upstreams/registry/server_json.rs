//! The official MCP Registry's `server.json` (schema 2025-12-11) as Guidepost reads it,
//! and the catalog entry it becomes: an npm or PyPI package a process upstream, an OCI
//! image a container upstream, a Streamable HTTP remote an HTTP upstream. Declared
//! environment variables and arguments become typed settings (`${config.NAME}`),
//! `isSecret` variables, headers and arguments become the installation's secrets (an
//! argument's is put on its command line only at launch, `${secret.NAME}`). What Guidepost
//! cannot run is still read, with the reason it cannot be installed.

use std::collections::BTreeMap;

use guidepost_domain::{
    CatalogEntry, ConfigField, ConfigType, ImageSpec, LaunchSpec, PackageSpec, RegistryStatus,
    RemoteSpec, SecretSlot, UpstreamSignIn, secret_argument,
};
use serde::Deserialize;
use serde_json::Value;

use super::super::catalog::is_secret_name;
use super::super::config::is_config_name;

/// The longest server name the registry allows.
const NAME_MAX: usize = 200;
/// The longest description kept.
const DESCRIPTION_MAX: usize = 1000;

/// Why a `server.json` is not a registry entry, or cannot be installed; the catalog
/// shows it beside the entry.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServerJsonError {
    #[error("{0:?} is not a registry server name (namespace/name, at most {NAME_MAX} characters)")]
    BadName(String),
    #[error("{0}: the version must be 1 to 100 characters")]
    BadVersion(String),
    #[error("it was deleted from its registry")]
    Deleted,
    #[error("it lists no package and no remote")]
    NothingListed,
    /// Why each package and remote it lists cannot be installed.
    #[error("{}", joined(.0))]
    NoneInstallable(Vec<ServerJsonError>),
    #[error("{0} packages are not supported")]
    PackageRegistry(String),
    #[error("its {registry} package speaks {transport}, not stdio")]
    PackageTransport { registry: String, transport: String },
    #[error("a streamable-http remote has no url")]
    RemoteWithoutUrl,
    #[error(
        "its remote uses the legacy SSE transport, which Guidepost does not speak \
         (it speaks Streamable HTTP)"
    )]
    LegacySse,
    #[error("its remote's transport {0:?} is not supported")]
    RemoteTransport(String),
    #[error("its secret {0:?} is not a variable name Guidepost passes, or is twice")]
    SecretName(String),
    #[error("its input {0:?} does not make a setting name")]
    SettingName(String),
    #[error("a positional argument has neither a value nor a value hint")]
    UnnamedArgument,
    #[error("an argument of type {0:?} is not supported")]
    ArgumentType(String),
    #[error("the default {0:?} is not a number")]
    DefaultNotNumber(String),
    #[error("the default {0:?} is not true or false")]
    DefaultNotBoolean(String),
}

fn joined(reasons: &[ServerJsonError]) -> String {
    let texts: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

/// A `server.json` document (the fields Guidepost reads; the others are kept in the
/// stored document).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerJson {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: String,
    pub version: String,
    #[serde(default)]
    pub packages: Vec<Package>,
    #[serde(default)]
    pub remotes: Vec<Transport>,
    #[serde(default, rename = "_meta")]
    pub meta: Option<Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Package {
    pub registry_type: String,
    pub identifier: String,
    #[serde(default)]
    pub version: Option<String>,
    pub transport: Transport,
    #[serde(default)]
    pub package_arguments: Vec<Argument>,
    #[serde(default)]
    pub environment_variables: Vec<Input>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Transport {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub headers: Vec<Input>,
}

/// What every input declares (the schema's `Input`), an environment variable, a header
/// and an argument alike.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct InputFields {
    pub description: Option<String>,
    pub is_required: bool,
    pub is_secret: bool,
    pub format: Option<String>,
    pub default: Option<String>,
    /// A fixed value: nothing to ask.
    pub value: Option<String>,
}

/// A named input: an environment variable or a header.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Input {
    pub name: String,
    #[serde(flatten)]
    pub fields: InputFields,
}

/// A package argument: `positional` (its value) or `named` (`--name value`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Argument {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value_hint: Option<String>,
    #[serde(flatten)]
    pub fields: InputFields,
}

impl ServerJson {
    /// Checks what every entry needs, installable or not: a registry name
    /// (`namespace/name`) and a version.
    pub(crate) fn check(&self) -> Result<(), ServerJsonError> {
        let well_formed = self.name.len() <= NAME_MAX
            && self.name.split_once('/').is_some_and(|(space, name)| {
                let part = |p: &str, extra: &str| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
                };
                part(space, ".-") && part(name, "._-")
            });
        if !well_formed {
            return Err(ServerJsonError::BadName(self.name.clone()));
        }
        if self.version.is_empty()
            || self.version.len() > 100
            || self.version.chars().any(char::is_control)
        {
            return Err(ServerJsonError::BadVersion(self.name.clone()));
        }
        Ok(())
    }

    /// The runtimes its packages and remotes could be installed with.
    pub(crate) fn runtimes(&self) -> Vec<String> {
        let mut runtimes: Vec<String> = self
            .packages
            .iter()
            .filter_map(|p| package_runtime(p).ok())
            .chain(
                self.remotes
                    .iter()
                    .filter_map(|r| remote_url(r).ok().map(|_| "http")),
            )
            .map(str::to_owned)
            .collect();
        runtimes.sort();
        runtimes.dedup();
        runtimes
    }

    /// Its tool names, where its publisher lists them (`_meta` of the publisher, as
    /// registries such as the official one pass through).
    pub(crate) fn tool_names(&self) -> Vec<String> {
        let Some(meta) = self.meta.as_ref().and_then(Value::as_object) else {
            return Vec::new();
        };
        meta.values()
            .filter_map(|extension| extension.get("tools")?.as_array().cloned())
            .flatten()
            .filter_map(|tool| match tool {
                Value::String(name) => Some(name),
                Value::Object(fields) => fields.get("name")?.as_str().map(str::to_owned),
                _ => None,
            })
            .take(200)
            .collect()
    }

    /// What `?q=` searches, lower case.
    pub(crate) fn search_text(&self) -> String {
        let mut text = format!(
            "{} {} {}",
            self.name,
            self.title.as_deref().unwrap_or_default(),
            self.description
        );
        for tool in self.tool_names() {
            text.push(' ');
            text.push_str(&tool);
        }
        text.to_lowercase()
    }

    /// The catalog entry it installs as, or why it cannot be installed.
    pub(crate) fn catalog_entry(
        &self,
        status: RegistryStatus,
    ) -> Result<CatalogEntry, ServerJsonError> {
        if status == RegistryStatus::Deleted {
            return Err(ServerJsonError::Deleted);
        }
        let mut reasons = Vec::new();
        let mut made = Builder::default();
        let spec = self
            .packages
            .iter()
            .find_map(|package| {
                made = Builder::default();
                made.package(package).map_err(|why| reasons.push(why)).ok()
            })
            .or_else(|| {
                self.remotes.iter().find_map(|remote| {
                    made = Builder::default();
                    made.remote(remote).map_err(|why| reasons.push(why)).ok()
                })
            });
        let Some(spec) = spec else {
            return Err(if reasons.is_empty() {
                ServerJsonError::NothingListed
            } else {
                ServerJsonError::NoneInstallable(reasons)
            });
        };
        let description: String = self.description.chars().take(DESCRIPTION_MAX).collect();
        Ok(CatalogEntry {
            id: self.name.clone(),
            name: self.title.clone().unwrap_or_else(|| self.name.clone()),
            description,
            spec,
            secrets: made.secrets,
            config: made.config,
            // A registry's entry says nothing of where its server keeps state.
            stateless: false,
            replicas: None,
        })
    }
}

fn package_runtime(package: &Package) -> Result<&'static str, ServerJsonError> {
    let runtime = match package.registry_type.as_str() {
        "npm" => "npm",
        "pypi" => "pypi",
        "oci" => "container",
        other => return Err(ServerJsonError::PackageRegistry(other.to_owned())),
    };
    match package.transport.kind.as_str() {
        "stdio" => Ok(runtime),
        other => Err(ServerJsonError::PackageTransport {
            registry: package.registry_type.clone(),
            transport: other.to_owned(),
        }),
    }
}

fn remote_url(remote: &Transport) -> Result<&str, ServerJsonError> {
    match remote.kind.as_str() {
        "streamable-http" => remote
            .url
            .as_deref()
            .ok_or(ServerJsonError::RemoteWithoutUrl),
        "sse" => Err(ServerJsonError::LegacySse),
        other => Err(ServerJsonError::RemoteTransport(other.to_owned())),
    }
}

/// The settings and secrets an entry's inputs become.
#[derive(Default)]
struct Builder {
    config: Vec<ConfigField>,
    secrets: Vec<SecretSlot>,
}

impl Builder {
    fn package(&mut self, package: &Package) -> Result<LaunchSpec, ServerJsonError> {
        let runtime = package_runtime(package)?;
        let mut args = Vec::new();
        for argument in &package.package_arguments {
            self.argument(argument, &mut args)?;
        }
        let mut env = BTreeMap::new();
        for variable in &package.environment_variables {
            self.variable(variable, &mut env)?;
        }
        let version = package.version.clone().unwrap_or_default();
        let (package_name, network, limits) = (
            package.identifier.clone(),
            guidepost_domain::Network::None,
            Default::default(),
        );
        Ok(match runtime {
            "npm" => LaunchSpec::Npm(PackageSpec {
                package: package_name,
                version,
                bin: None,
                args,
                env,
                network: network.clone(),
                limits,
            }),
            "pypi" => LaunchSpec::Pypi(PackageSpec {
                package: package_name,
                version,
                bin: None,
                args,
                env,
                network: network.clone(),
                limits,
            }),
            _ => LaunchSpec::Container(ImageSpec {
                image: image_reference(&package.identifier, &version),
                args,
                env,
                limits: Default::default(),
                network,
            }),
        })
    }

    fn remote(&mut self, remote: &Transport) -> Result<LaunchSpec, ServerJsonError> {
        let url = remote_url(remote)?.to_owned();
        let mut headers = BTreeMap::new();
        let mut secret_headers = BTreeMap::new();
        for header in &remote.headers {
            if header.fields.is_secret {
                let secret = self.secret(secret_name(&header.name), &header.fields)?;
                secret_headers.insert(header.name.clone(), secret);
            } else {
                let value = self.setting(&header.name, &header.fields)?;
                headers.insert(header.name.clone(), value);
            }
        }
        Ok(LaunchSpec::Http(RemoteSpec {
            url,
            headers,
            secret_headers,
            sign_in: UpstreamSignIn::None,
            oauth_client_id: None,
            person_key_header: None,
            // Only an editor allows it, for an upstream they installed.
            allow_foreign_oauth_endpoints: false,
        }))
    }

    /// An environment variable: a secret passed under its own name, a fixed value, or a
    /// setting.
    fn variable(
        &mut self,
        input: &Input,
        env: &mut BTreeMap<String, String>,
    ) -> Result<(), ServerJsonError> {
        if input.fields.is_secret {
            // Passed under its own name.
            return self.secret(input.name.clone(), &input.fields).map(drop);
        }
        let value = self.setting(&input.name, &input.fields)?;
        env.insert(input.name.clone(), value);
        Ok(())
    }

    /// A secret slot `name`; answers its name.
    fn secret(&mut self, name: String, input: &InputFields) -> Result<String, ServerJsonError> {
        if !is_secret_name(&name) || self.secrets.iter().any(|s| s.name == name) {
            return Err(ServerJsonError::SecretName(name));
        }
        self.secrets.push(SecretSlot {
            name: name.clone(),
            description: input.description.clone().unwrap_or_default(),
            required: input.is_required,
        });
        Ok(name)
    }

    /// A fixed value as it is, else a setting named after the input, whose placeholder is
    /// the value.
    fn setting(&mut self, name: &str, input: &InputFields) -> Result<String, ServerJsonError> {
        if let Some(value) = &input.value {
            return Ok(value.clone());
        }
        let setting = name
            .trim_start_matches('-')
            .to_lowercase()
            .replace(['-', '.'], "_");
        if !is_config_name(&setting) || self.config.iter().any(|f| f.name == setting) {
            return Err(ServerJsonError::SettingName(name.to_owned()));
        }
        let kind = match input.format.as_deref() {
            Some("number") => ConfigType::Number,
            Some("boolean") => ConfigType::Boolean,
            _ => ConfigType::String,
        };
        // An optional input with no default is left empty unless given.
        let default = match (input.default.as_deref(), input.is_required) {
            (Some(text), _) => Some(typed_default(kind, text)?),
            (None, false) => Some(Value::String(String::new())),
            (None, true) => None,
        };
        let kind = if default.as_ref().is_some_and(Value::is_string) {
            ConfigType::String
        } else {
            kind
        };
        self.config.push(ConfigField {
            name: setting.clone(),
            description: input.description.clone().unwrap_or_default(),
            kind,
            default,
        });
        Ok(format!("${{config.{setting}}}"))
    }

    /// A package argument: positional (its value), or named (`--name value`). A secret
    /// one becomes a secret of the installation, put in its place only when the process
    /// is started (`secret_argument`); asked for even when optional, since its place on
    /// the command line cannot stay empty.
    fn argument(
        &mut self,
        argument: &Argument,
        args: &mut Vec<String>,
    ) -> Result<(), ServerJsonError> {
        let label = argument
            .name
            .clone()
            .or_else(|| argument.value_hint.clone());
        let value = match (&argument.fields.value, label) {
            (Some(value), _) => value.clone(),
            (None, None) => {
                return Err(ServerJsonError::UnnamedArgument);
            }
            (None, Some(label)) if argument.fields.is_secret => {
                let required = InputFields {
                    is_required: true,
                    ..argument.fields.clone()
                };
                secret_argument(&self.secret(secret_name(&label), &required)?)
            }
            (None, Some(label)) => self.setting(&label, &argument.fields)?,
        };
        match (argument.kind.as_str(), &argument.name) {
            ("named", Some(name)) => {
                args.push(name.clone());
                args.push(value);
            }
            ("positional", _) => args.push(value),
            (other, _) => return Err(ServerJsonError::ArgumentType(other.to_owned())),
        }
        Ok(())
    }
}

/// The secret a header or an argument becomes (`X-Api-Key` → `X_API_KEY`, `--api-key` →
/// `API_KEY`).
fn secret_name(label: &str) -> String {
    label
        .trim_start_matches('-')
        .to_uppercase()
        .replace(['-', '.'], "_")
}

fn typed_default(kind: ConfigType, text: &str) -> Result<Value, ServerJsonError> {
    match kind {
        ConfigType::Number => serde_json::from_str::<serde_json::Number>(text)
            .map(Value::Number)
            .map_err(|_| ServerJsonError::DefaultNotNumber(text.to_owned())),
        ConfigType::Boolean => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(ServerJsonError::DefaultNotBoolean(text.to_owned())),
        },
        ConfigType::String => Ok(Value::String(text.to_owned())),
    }
}

/// An OCI identifier with its version as the tag, unless it names a tag or digest.
fn image_reference(identifier: &str, version: &str) -> String {
    let last = identifier.rsplit('/').next().unwrap_or(identifier);
    if last.contains(':') || identifier.contains('@') || version.is_empty() {
        identifier.to_owned()
    } else {
        format!("{identifier}:{version}")
    }
}
