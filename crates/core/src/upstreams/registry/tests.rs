//! How a server.json becomes a catalog entry, and what is refused with its reason.

use guidepost_domain::{
    ConfigType, ImageSpec, LaunchSpec, PackageSpec, RegistryStatus, RemoteSpec, Timestamp,
};
use serde_json::{Value, json};

use super::server_json::ServerJson;
use super::{entry_of, installable};

fn server(packages: Value, remotes: Value) -> Value {
    json!({"name": "io.example/thing", "title": "Thing", "description": "Does things.", "version": "1.2.0",
           "packages": packages, "remotes": remotes})
}

fn entry(document: Value) -> Result<guidepost_domain::CatalogEntry, String> {
    let stored = entry_of("https://registry.example", &document, Timestamp::now())
        .map_err(|why| why.to_string())?;
    installable(&stored).map_err(|why| why.to_string())
}

#[test]
fn a_pypi_package_takes_its_arguments_variables_and_secrets_as_settings_and_secrets() {
    let document = server(
        json!([{"registryType": "pypi", "identifier": "thing-mcp", "version": "1.2.0",
                "transport": {"type": "stdio"},
                "packageArguments": [
                    {"type": "named", "name": "--port", "format": "number", "default": "8080"},
                    {"type": "positional", "valueHint": "root_dir", "isRequired": true}],
                "environmentVariables": [
                    {"name": "THING_TOKEN", "isSecret": true, "isRequired": false},
                    {"name": "THING_MODE", "value": "fast"}]}]),
        json!([]),
    );
    let entry = entry(document).unwrap();
    assert_eq!(entry.id, "io.example/thing");
    assert_eq!(entry.name, "Thing");
    let LaunchSpec::Pypi(PackageSpec {
        package,
        version,
        args,
        env,
        network,
        ..
    }) = &entry.spec
    else {
        panic!("{:?}", entry.spec)
    };
    assert_eq!((package.as_str(), version.as_str()), ("thing-mcp", "1.2.0"));
    assert_eq!(args, &["--port", "${config.port}", "${config.root_dir}"]);
    assert_eq!(env["THING_MODE"], "fast");
    assert!(
        !env.contains_key("THING_TOKEN"),
        "a secret is passed by the launch, not the spec"
    );
    assert!(!network.is_on());
    assert_eq!(entry.config[0].kind, ConfigType::Number);
    assert_eq!(entry.config[0].default, Some(json!(8080)));
    assert_eq!(entry.config[1].default, None, "required: asked for");
    assert_eq!(entry.secrets[0].name, "THING_TOKEN");
    assert!(!entry.secrets[0].required);
}

#[test]
fn oci_and_remote_entries_become_container_and_http_specs() {
    let oci = server(
        json!([{"registryType": "oci", "identifier": "ghcr.io/example/thing", "version": "1.2.0",
                "transport": {"type": "stdio"}}]),
        json!([]),
    );
    let LaunchSpec::Container(ImageSpec { image, .. }) = entry(oci).unwrap().spec else {
        panic!()
    };
    assert_eq!(image, "ghcr.io/example/thing:1.2.0");
    let remote = server(
        json!([]),
        json!([{"type": "streamable-http", "url": "https://thing.example.com/mcp",
                "headers": [{"name": "X-Api-Key", "isSecret": true, "isRequired": true}]}]),
    );
    let entry = entry(remote).unwrap();
    let LaunchSpec::Http(RemoteSpec {
        url,
        secret_headers,
        ..
    }) = &entry.spec
    else {
        panic!()
    };
    assert_eq!(url, "https://thing.example.com/mcp");
    assert_eq!(secret_headers["X-Api-Key"], "X_API_KEY");
    assert_eq!(entry.secrets[0].name, "X_API_KEY");
}

#[test]
fn what_cannot_run_says_why() {
    for (document, why) in [
        (
            server(
                json!([]),
                json!([{"type": "sse", "url": "https://x.example/sse"}]),
            ),
            "legacy SSE",
        ),
        (
            server(
                json!([{"registryType": "nuget", "identifier": "Thing", "version": "1.2.0",
                        "transport": {"type": "stdio"}}]),
                json!([]),
            ),
            "nuget packages",
        ),
        (
            server(
                json!([{"registryType": "npm", "identifier": "thing", "version": "1.2.0",
                        "transport": {"type": "stdio"},
                        "packageArguments": [{"type": "named", "name": "--clé", "isSecret": true}]}]),
                json!([]),
            ),
            "not a variable name",
        ),
        (
            server(
                json!([{"registryType": "npm", "identifier": "thing", "version": "^1.2.0",
                        "transport": {"type": "stdio"}}]),
                json!([]),
            ),
            "spec.version",
        ),
        (
            server(
                json!([{"registryType": "npm", "identifier": "thing", "version": "1.2.0",
                        "transport": {"type": "stdio"},
                        "environmentVariables": [{"name": "LD_PRELOAD", "value": "/x.so"}]}]),
                json!([]),
            ),
            "spec.env",
        ),
        (server(json!([]), json!([])), "no package"),
    ] {
        let error = entry(document).unwrap_err();
        assert!(error.contains(why), "{why}: {error}");
    }
    let deleted = server(
        json!([{"registryType": "npm", "identifier": "thing", "version": "1.2.0",
                                 "transport": {"type": "stdio"}}]),
        json!([]),
    );
    let server: ServerJson = serde_json::from_value(deleted).unwrap();
    assert!(
        server
            .catalog_entry(RegistryStatus::Deleted)
            .unwrap_err()
            .to_string()
            .contains("deleted")
    );
}

#[test]
fn every_version_with_a_registry_name_is_kept_with_the_registrys_word_on_it() {
    let listed = |name: &str, latest: bool| {
        json!({"server": {"name": name, "description": "", "version": "1.0.0"},
               "_meta": {"io.modelcontextprotocol.registry/official":
                   {"status": "deprecated", "updatedAt": "2026-03-01T00:00:00Z", "isLatest": latest}}})
    };
    let now = Timestamp::now();
    let kept = entry_of("r", &listed("io.example/a", true), now).unwrap();
    assert_eq!(kept.status, RegistryStatus::Deprecated);
    assert_eq!(kept.is_latest, Some(true));
    assert_eq!(
        kept.updated_at,
        Timestamp::parse_rfc3339("2026-03-01T00:00:00Z").unwrap()
    );
    let older = entry_of("r", &listed("io.example/a", false), now).unwrap();
    assert_eq!(
        older.is_latest,
        Some(false),
        "an older version is kept, marked so"
    );
    assert_eq!(
        older.published_at, older.updated_at,
        "no publishedAt: its updatedAt"
    );
    for bad in ["no-namespace", "a/b/c", "io.example/", "io example/x"] {
        assert!(entry_of("r", &listed(bad, true), now).is_err(), "{bad}");
    }
}

#[test]
fn a_secret_argument_becomes_a_required_secret_put_in_its_place_at_launch() {
    let document = server(
        json!([{"registryType": "npm", "identifier": "thing", "version": "1.2.0",
                "transport": {"type": "stdio"},
                "packageArguments": [
                    {"type": "named", "name": "--api-key", "isSecret": true, "description": "The key."},
                    {"type": "positional", "valueHint": "token", "isSecret": true, "isRequired": false}]}]),
        json!([]),
    );
    let installed = entry(document).unwrap();
    let LaunchSpec::Npm(PackageSpec { args, env, .. }) = &installed.spec else {
        panic!("{:?}", installed.spec)
    };
    assert_eq!(args, &["--api-key", "${secret.API_KEY}", "${secret.TOKEN}"]);
    assert!(env.is_empty(), "{env:?}");
    let slots: Vec<(&str, bool)> = installed
        .secrets
        .iter()
        .map(|s| (s.name.as_str(), s.required))
        .collect();
    assert_eq!(
        slots,
        [("API_KEY", true), ("TOKEN", true)],
        "asked for even when optional: its place cannot stay empty"
    );
    assert!(installed.config.is_empty(), "{:?}", installed.config);
}

/// A listed entry (`{"server": …, "_meta": …}`) with its `updatedAt`.
fn listed(name: &str, updated_at: &str) -> Value {
    json!({"server": {"name": name, "description": "", "version": "1.0.0"},
           "_meta": {"io.modelcontextprotocol.registry/official": {"updatedAt": updated_at}}})
}

#[test]
fn an_entry_nested_past_the_parsers_limit_is_skipped_alone_with_its_name() {
    let mut deep = listed("io.example/deep", "2026-01-01T00:00:00Z");
    let mut nested = json!(0);
    for _ in 0..200 {
        nested = json!([nested]);
    }
    deep["server"]["_meta"] = json!({"x": nested});
    let body = json!({"servers": [listed("io.example/a", "2026-01-01T00:00:00Z"), deep,
                                  listed("io.example/b", "2026-01-01T00:00:00Z")],
                      "metadata": {"nextCursor": "io.example/b:1.0.0"}});
    // Written by hand: serde_json writes any depth; only reading has the limit.
    let text = serde_json::to_vec(&body).unwrap();
    assert!(
        serde_json::from_slice::<Value>(&text).is_err(),
        "the page as a whole does not read"
    );
    let page = super::sync::read_page("r", &text, Timestamp::now()).unwrap();
    let names: Vec<&str> = page.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["io.example/a", "io.example/b"]);
    assert_eq!(page.received, 3);
    let [(name, why)] = page.skipped.as_slice() else {
        panic!("{:?}", page.skipped)
    };
    assert_eq!(name.as_deref(), Some("io.example/deep"));
    assert!(why.to_string().contains("recursion limit"), "{why}");
    assert_eq!(page.next_cursor.as_deref(), Some("io.example/b:1.0.0"));
}

#[test]
fn a_date_far_ahead_is_brought_back_to_now_and_a_near_one_kept() {
    let now = Timestamp::now();
    let far = entry_of("r", &listed("io.example/far", "9999-12-31T00:00:00Z"), now).unwrap();
    assert_eq!((far.updated_at, far.published_at), (now, now));
    let near_text = now.plus_seconds(60).to_rfc3339();
    let near = entry_of("r", &listed("io.example/near", &near_text), now).unwrap();
    assert_eq!(
        near.updated_at,
        now.plus_seconds(60),
        "clocks differ by a little"
    );
}
