//! Organizations' private catalog entries: an organization adds the container
//! images, remote servers and (where the operator allows it) npm packages it wants to
//! install beside the platform's catalog. A private entry cannot run a command of the
//! host, cannot set the variables that steer how programs load (PATH, NODE_OPTIONS, LD_*),
//! and is seen by its organization only. An npm package runs as a process of the host,
//! so it is refused unless the operator opts in (`--private-package-entries`); a
//! container entry names only an image the operator lists (`--container-images`).

use crate::{Caller, Permission};
use std::collections::BTreeMap;

use guidepost_domain::*;

use super::catalog::{CatalogEntry, is_secret_name};
use super::direct::DirectUpstream;
use crate::{CoreError, Platform};

const DESCRIPTION_MAX: usize = 1000;
const ARGS_MAX: usize = 32;
const ENV_MAX: usize = 32;
const HEADERS_MAX: usize = 16;
const SECRETS_MAX: usize = 16;
const VALUE_MAX: usize = 4096;
/// The longest address of a remote upstream (as webhooks' and OIDC issuers' are bounded).
const URL_MAX: usize = 2048;
/// Settings an entry may ask for.
const CONFIG_MAX: usize = 32;

/// The platform's entry `id`, else the organization's own.
pub(super) async fn find_local(
    platform: &Platform,
    org: &OrgId,
    id: &str,
) -> Result<CatalogEntry, CoreError> {
    if let Some(entry) = platform.config.catalog.find(id) {
        return Ok(entry.clone());
    }
    let unknown = || {
        ValidationError::new(
            "catalog_entry_id",
            format!("no catalog entry {id:?}; GET /api/v1/catalog lists them"),
        )
    };
    // No entry id holds a control character (PostgreSQL refuses a NUL in a query
    // parameter, which would answer 500) or is this long.
    if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
        return Err(unknown().into());
    }
    match platform.store.get_catalog_entry(org, id).await {
        Ok(entry) => {
            still_installable(platform, &entry)?;
            Ok(entry)
        }
        Err(guidepost_store::StoreError::NotFound) => Err(unknown().into()),
        Err(other) => Err(other.into()),
    }
}

/// Checks and adds a private entry.
pub async fn add(
    platform: &Platform,
    caller: &Caller,
    entry: CatalogEntry,
) -> Result<CatalogEntry, CoreError> {
    caller.require(Permission::Gateway)?;
    let org = caller.org();
    check(&entry)?;
    check_runnable(platform, &entry)?;
    if platform.config.catalog.find(&entry.id).is_some() {
        return Err(CoreError::Conflict(format!(
            "{:?} is an entry of the platform's catalog; pick another id",
            entry.id
        )));
    }
    platform.store.create_catalog_entry(org, &entry).await?;
    let object = crate::audit::Object {
        kind: "catalog_entry",
        id: &entry.id,
        name: &entry.name,
    };
    let detail = serde_json::json!({ "runtime": entry.spec.runtime().as_str() });
    crate::audit::record(
        platform,
        caller,
        AuditAction::CatalogEntryAdded,
        object,
        detail,
    )
    .await?;
    Ok(entry)
}

/// What this platform lets an organization's own entry run: a container only of an image
/// the operator lists, a package only where the operator allows them.
/// Whether an organization's own entry installs here now: one added under older rules (a
/// version range, an image the operator has since taken off the list) installs no more.
pub(super) fn still_installable(
    platform: &Platform,
    entry: &CatalogEntry,
) -> Result<(), ValidationError> {
    super::package::check(&entry.spec)?;
    check_image(platform, &entry.spec)
}

fn check_runnable(platform: &Platform, entry: &CatalogEntry) -> Result<(), ValidationError> {
    check_image(platform, &entry.spec)?;
    if entry.spec.package().is_some() && !platform.config.private_package_entries {
        return Err(invalid(
            "spec.runtime",
            "this platform runs organizations' own packages only in containers (runtime \"container\") \
             or reaches them as remote servers (runtime \"http\"); its operator can allow npm packages \
             with --private-package-entries",
        ));
    }
    Ok(())
}

/// The entry a request that describes its upstream itself stands for, checked as an
/// organization's own entry is: its secrets those the request gives and those an HTTP
/// server's `secret_headers` name (so that a missing one is refused by name).
pub(super) fn inline_entry(
    platform: &Platform,
    direct: &DirectUpstream,
) -> Result<CatalogEntry, ValidationError> {
    validate_text("name", &direct.name, Limits::NAME)?;
    if direct.description.chars().count() > DESCRIPTION_MAX {
        return Err(invalid(
            "description",
            format!("at most {DESCRIPTION_MAX} characters"),
        ));
    }
    let names = secret_names(direct.secrets.keys(), &direct.spec);
    if names.len() > SECRETS_MAX {
        return Err(invalid("secrets", format!("at most {SECRETS_MAX}")));
    }
    let entry = CatalogEntry {
        id: String::new(),
        name: direct.name.clone(),
        description: direct.description.clone(),
        spec: direct.spec.clone(),
        secrets: secret_slots(names),
        config: Vec::new(),
        stateless: false,
        replicas: None,
    };
    check_spec(&entry)?;
    check_runnable(platform, &entry)?;
    Ok(entry)
}

/// The entry an upstream installed without one stands for after install: its spec, no
/// settings, and the secrets it was given (so that each may be replaced; a new name is
/// refused, as it would be for an entry that does not declare it).
pub(super) fn entry_of_direct(upstream: &Upstream) -> CatalogEntry {
    let names = secret_names(upstream.secrets_sealed.keys(), &upstream.spec);
    CatalogEntry {
        id: upstream.name.clone(),
        name: upstream.name.clone(),
        description: String::new(),
        spec: upstream.spec.clone(),
        secrets: secret_slots(names),
        config: Vec::new(),
        stateless: false,
        replicas: None,
    }
}

/// The secrets an upstream without an entry takes: those it is `given`, and those its HTTP
/// server's `secret_headers` name; once each, in order.
fn secret_names<'a>(given: impl Iterator<Item = &'a String>, spec: &LaunchSpec) -> Vec<String> {
    let mut names: Vec<String> = given.cloned().collect();
    if let Some(remote) = spec.remote() {
        names.extend(remote.secret_headers.values().cloned());
    }
    names.sort_unstable();
    names.dedup();
    names
}

fn secret_slots(names: Vec<String>) -> Vec<SecretSlot> {
    names
        .into_iter()
        .map(|name| SecretSlot {
            name,
            description: String::new(),
            required: true,
        })
        .collect()
}

fn invalid(field: &'static str, message: impl Into<String>) -> ValidationError {
    ValidationError::new(field, message.into())
}

/// A container `spec` runs only an image the operator lists (`--container-images`): an
/// organization's own entry's, and a registry entry's too, whose images are anyone's. Only
/// the operator's `--catalog` file names others. A registry's npm and PyPI packages
/// install as the platform catalog's do: `--private-package-entries` is about
/// organizations' own entries, and the operator chose the registries.
pub(super) fn check_image(platform: &Platform, spec: &LaunchSpec) -> Result<(), ValidationError> {
    match spec {
        LaunchSpec::Container(container) => {
            check_image_allowed(&platform.config.container_images, &container.image)
        }
        LaunchSpec::Npm(_) | LaunchSpec::Pypi(_) | LaunchSpec::Http(_) | LaunchSpec::Command(_) => {
            Ok(())
        }
    }
}

/// An organization's container entry names an image the operator lists, exactly: an
/// image present on the host (another tenant's included) is not the organization's to
/// run otherwise.
fn check_image_allowed(allowed: &[String], image: &str) -> Result<(), ValidationError> {
    if allowed.iter().any(|a| a == image) {
        return Ok(());
    }
    if allowed.is_empty() {
        return Err(invalid(
            "spec.image",
            "this platform's operator allows no container images for organizations to install \
             (--container-images is empty)",
        ));
    }
    Err(invalid(
        "spec.image",
        format!(
            "{image:?} is not on the operator's allowlist of container images \
             (--container-images does not name it; the reference must match exactly)"
        ),
    ))
}

fn check(entry: &CatalogEntry) -> Result<(), ValidationError> {
    let id_ok = (2..=40).contains(&entry.id.len())
        && entry
            .id
            .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && entry
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !id_ok {
        return Err(invalid(
            "id",
            "must be 2 to 40 of a-z, 0-9 and '-', starting with a letter or digit",
        ));
    }
    validate_text("name", &entry.name, Limits::NAME)?;
    if entry.description.chars().count() > DESCRIPTION_MAX {
        return Err(invalid(
            "description",
            format!("at most {DESCRIPTION_MAX} characters"),
        ));
    }
    if entry.secrets.len() > SECRETS_MAX {
        return Err(invalid("secrets", format!("at most {SECRETS_MAX}")));
    }
    if entry.config.len() > CONFIG_MAX {
        return Err(invalid("config", format!("at most {CONFIG_MAX} settings")));
    }
    let described = entry.config.iter().map(|field| &field.description);
    let described = described.chain(entry.secrets.iter().map(|slot| &slot.description));
    if described
        .into_iter()
        .any(|text| text.chars().count() > DESCRIPTION_MAX)
    {
        let message = format!(
            "a setting's or a secret's description is at most {DESCRIPTION_MAX} characters"
        );
        return Err(invalid("config", message));
    }
    super::config::check_fields(&entry.config).map_err(|why| invalid("config", why.to_string()))?;
    if entry.stateless || entry.replicas.is_some() {
        return Err(invalid(
            "stateless",
            "only the platform's catalog marks an entry stateless (for replicas); an \
             organization's own entry runs one process per node",
        ));
    }
    check_spec(entry)
}

/// What an entry may run and pass, wherever it comes from but the operator's own file:
/// secret names that steer no loading, and a spec of a plain package at an exact
/// version, an allowed container, or an https server.
pub(super) fn check_spec(entry: &CatalogEntry) -> Result<(), ValidationError> {
    if let Some(slot) = entry
        .secrets
        .iter()
        .find(|s| !is_secret_name(&s.name) || steers_loading(&s.name))
    {
        return Err(invalid(
            "secrets",
            format!("{:?} is not a secret name (A-Z, 0-9, _)", slot.name),
        ));
    }
    match &entry.spec {
        LaunchSpec::Npm(package) | LaunchSpec::Pypi(package) => {
            super::package::check(&entry.spec)?;
            check_release(package.bin.as_deref(), &package.args)?;
            check_env(&package.env)
        }
        LaunchSpec::Http(RemoteSpec {
            url,
            headers,
            secret_headers,
            sign_in,
            oauth_client_id,
            person_key_header,
            // Any value is well-formed; what it allows is checked at each discovery.
            allow_foreign_oauth_endpoints: _,
        }) => {
            super::connections::with_sign_in(entry.spec.clone(), Some(*sign_in))?;
            check_http(entry, url, headers, secret_headers)?;
            check_sign_in_fields(oauth_client_id.as_deref(), person_key_header.as_deref())
        }
        LaunchSpec::Container(ImageSpec {
            image,
            args,
            env,
            limits,
            ..
        }) => check_container(image, args, env, limits),
        LaunchSpec::Command(_) => Err(invalid(
            "spec.runtime",
            "an organization's entry is an npm package, a container image or a remote server; only the platform's operator adds commands",
        )),
    }
}

fn check_container(
    image: &str,
    args: &[String],
    env: &BTreeMap<String, String>,
    limits: &ContainerLimits,
) -> Result<(), ValidationError> {
    let image_ok = !image.is_empty()
        && image.len() <= 255
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "./:_-@".contains(c));
    if !image_ok {
        return Err(invalid(
            "spec.image",
            "must be an image reference, such as registry.example.com/team/server:1.2",
        ));
    }
    if args.len() > ARGS_MAX
        || args
            .iter()
            .any(|a| a.len() > 1000 || a.chars().any(char::is_control))
    {
        return Err(invalid(
            "spec.args",
            format!("at most {ARGS_MAX}, each at most 1000 bytes without control characters"),
        ));
    }
    let limits_ok = (16..=4096).contains(&limits.memory_mb)
        && (0.05..=4.0).contains(&limits.cpus)
        && (8..=1024).contains(&limits.pids);
    if !limits_ok {
        return Err(invalid(
            "spec.limits",
            "memory_mb 16-4096, cpus 0.05-4, pids 8-1024",
        ));
    }
    check_env(env)
}

/// What npm and PyPI entries share besides their package and exact version (checked by
/// [`super::package`]): a plain binary name, bounded args.
fn check_release(bin: Option<&str>, args: &[String]) -> Result<(), ValidationError> {
    let bin_ok = |b: &str| {
        !b.is_empty()
            && b.len() <= 100
            && b.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
    };
    if bin.is_some_and(|b| !bin_ok(b)) {
        return Err(invalid(
            "spec.bin",
            "must be the name of one of the package's binaries",
        ));
    }
    if args.len() > ARGS_MAX
        || args
            .iter()
            .any(|a| a.len() > 1000 || a.chars().any(char::is_control))
    {
        return Err(invalid(
            "spec.args",
            format!("at most {ARGS_MAX}, each at most 1000 bytes without control characters"),
        ));
    }
    Ok(())
}

/// Variables that steer how programs load or where they look: never an entry's to set.
fn steers_loading(name: &str) -> bool {
    matches!(
        name,
        "PATH" | "HOME" | "TMPDIR" | "NODE_OPTIONS" | "NODE_PATH"
    ) || ["LD_", "PYTHON", "GUIDEPOST_", "NPM_CONFIG_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
}

fn check_env(env: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    if env.len() > ENV_MAX {
        return Err(invalid("spec.env", format!("at most {ENV_MAX} variables")));
    }
    for (name, value) in env {
        if !is_secret_name(name) || steers_loading(name) {
            return Err(invalid(
                "spec.env",
                format!(
                    "{name:?} cannot be set (names are A-Z, 0-9, _; not PATH, HOME, TMPDIR, NODE_OPTIONS, \
                     NODE_PATH, LD_*, PYTHON*, NPM_CONFIG_* or GUIDEPOST_*)"
                ),
            ));
        }
        if value.len() > VALUE_MAX || value.chars().any(char::is_control) {
            return Err(invalid(
                "spec.env",
                format!("{name}: at most {VALUE_MAX} bytes without control characters"),
            ));
        }
    }
    Ok(())
}

/// A header name as an entry may give one: 1 to 100 of A-Z, a-z, 0-9 and '-'.
fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The client id a person's sign-in registers as, and the header a person's key goes in:
/// checked here, not only when a call first sends them.
fn check_sign_in_fields(
    client_id: Option<&str>,
    key_header: Option<&str>,
) -> Result<(), ValidationError> {
    if let Some(id) = client_id
        && (id.is_empty() || id.len() > Limits::NAME || id.chars().any(char::is_control))
    {
        let message = format!(
            "1 to {} characters without control characters",
            Limits::NAME
        );
        return Err(invalid("spec.oauth_client_id", message));
    }
    if let Some(header) = key_header
        && !is_header_name(header)
    {
        let message = format!("{header:?} is not a header name (A-Z, a-z, 0-9 and '-')");
        return Err(invalid("spec.person_key_header", message));
    }
    Ok(())
}

fn check_http(
    entry: &CatalogEntry,
    url: &str,
    headers: &BTreeMap<String, String>,
    secret_headers: &BTreeMap<String, String>,
) -> Result<(), ValidationError> {
    if url.len() > URL_MAX {
        return Err(invalid("spec.url", format!("at most {URL_MAX} bytes")));
    }
    let parsed =
        url::Url::parse(url).map_err(|e| invalid("spec.url", format!("not a URL: {e}")))?;
    let credentials = crate::hosting::urls::carries_credentials(&parsed);
    if parsed.scheme() != "https" || parsed.host_str().is_none() || credentials {
        return Err(invalid(
            "spec.url",
            "must be an https URL without credentials",
        ));
    }
    if headers.len() + secret_headers.len() > HEADERS_MAX {
        return Err(invalid(
            "spec.headers",
            format!("at most {HEADERS_MAX} headers"),
        ));
    }
    for (name, value) in headers {
        if !is_header_name(name) || value.len() > VALUE_MAX || value.chars().any(char::is_control) {
            return Err(invalid(
                "spec.headers",
                format!("{name:?}: a header name of A-Z, a-z, 0-9 and '-', and a printable value"),
            ));
        }
    }
    for (header, secret) in secret_headers {
        if !is_header_name(header) {
            return Err(invalid(
                "spec.secret_headers",
                format!("{header:?} is not a header name"),
            ));
        }
        if !entry.secrets.iter().any(|s| &s.name == secret) {
            return Err(invalid(
                "spec.secret_headers",
                format!("{secret:?} is not one of the entry's secrets"),
            ));
        }
    }
    Ok(())
}
