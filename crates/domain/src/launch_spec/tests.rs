use serde_json::json;

use super::*;

/// A spec of `kind`, with its fields left to their defaults where it has defaults.
fn example(kind: RuntimeKind) -> LaunchSpec {
    let spec = match kind {
        RuntimeKind::Npm => {
            json!({"runtime": "npm", "package": "@scope/server", "version": "1.0.0"})
        }
        RuntimeKind::Pypi => json!({"runtime": "pypi", "package": "server", "version": "1.0.0"}),
        RuntimeKind::Http => json!({"runtime": "http", "url": "https://mcp.example.com/mcp"}),
        RuntimeKind::Container => json!({"runtime": "container", "image": "example/server:1"}),
        RuntimeKind::Command => json!({"runtime": "command", "command": "/usr/bin/server"}),
    };
    serde_json::from_value(spec).expect("an example spec parses")
}

#[test]
fn every_kind_is_listed_once_under_the_tag_its_spec_carries() {
    // Serde names every tag `LaunchSpec` accepts when it meets one it does not.
    let refused = serde_json::from_value::<LaunchSpec>(json!({"runtime": "nope"})).unwrap_err();
    let message = refused.to_string();
    let (_, expected) = message.split_once("expected one of ").expect(&message);
    let mut tags: Vec<&str> = expected
        .split(", ")
        .map(|tag| tag.trim_matches('`'))
        .collect();
    let mut listed: Vec<&str> = RuntimeKind::ALL.map(RuntimeKind::as_str).to_vec();
    tags.sort_unstable();
    listed.sort_unstable();
    assert_eq!(listed, tags, "RuntimeKind::ALL against LaunchSpec's tags");
    for kind in RuntimeKind::ALL {
        let spec = example(kind);
        assert_eq!(spec.runtime(), kind);
        assert_eq!(
            serde_json::to_value(&spec).unwrap()["runtime"],
            kind.as_str()
        );
        assert_eq!(RuntimeKind::parse(kind.as_str()), Some(kind));
    }
    assert_eq!(RuntimeKind::parse("stdio"), None);
}

#[test]
fn the_stored_form_is_the_fields_after_their_tag() {
    let stored = |kind| serde_json::to_string(&example(kind)).unwrap();
    assert_eq!(
        stored(RuntimeKind::Npm),
        r#"{"runtime":"npm","package":"@scope/server","version":"1.0.0","bin":null,"args":[],"env":{},"network":false,"limits":{"memory_mb":null,"processes":null,"disk_mb":null}}"#
    );
    assert_eq!(
        stored(RuntimeKind::Pypi),
        r#"{"runtime":"pypi","package":"server","version":"1.0.0","bin":null,"args":[],"env":{},"network":false,"limits":{"memory_mb":null,"processes":null,"disk_mb":null}}"#
    );
    assert_eq!(
        stored(RuntimeKind::Http),
        r#"{"runtime":"http","url":"https://mcp.example.com/mcp","headers":{},"secret_headers":{}}"#
    );
    assert_eq!(
        stored(RuntimeKind::Container),
        r#"{"runtime":"container","image":"example/server:1","args":[],"env":{},"limits":{"memory_mb":256,"cpus":1.0,"pids":64},"network":false}"#
    );
    assert_eq!(
        stored(RuntimeKind::Command),
        r#"{"runtime":"command","command":"/usr/bin/server","args":[],"env":{},"network":false,"limits":{"memory_mb":null,"processes":null,"disk_mb":null},"paths":{"read":[],"write":[]}}"#
    );
    for kind in RuntimeKind::ALL {
        let again: LaunchSpec = serde_json::from_str(&stored(kind)).unwrap();
        assert_eq!(again, example(kind), "{kind} read back");
    }
}

#[test]
fn every_kind_refuses_a_field_it_does_not_have() {
    for kind in RuntimeKind::ALL {
        let mut spec = serde_json::to_value(example(kind)).unwrap();
        spec["colour"] = json!("blue");
        let refused = serde_json::from_value::<LaunchSpec>(spec).unwrap_err();
        assert!(
            refused.to_string().contains("unknown field `colour`"),
            "{kind}: {refused}"
        );
    }
    // A field of another kind is no field of this one.
    let mixed = json!({"runtime": "npm", "package": "a", "version": "1", "image": "b"});
    assert!(serde_json::from_value::<LaunchSpec>(mixed).is_err());
}

#[test]
fn what_each_kind_is_asked() {
    let npm = example(RuntimeKind::Npm);
    let http = example(RuntimeKind::Http);
    let container = example(RuntimeKind::Container);
    assert!(http.is_remote() && http.network() && http.remote().is_some());
    assert!(!npm.is_remote() && !npm.network() && npm.remote().is_none());
    assert_eq!(
        npm.package().map(|p| p.package.as_str()),
        Some("@scope/server")
    );
    assert_eq!(npm.version(), Some("1.0.0"));
    assert_eq!(container.version(), Some("example/server:1"));
    assert_eq!(http.version(), None);
    assert!(matches!(npm.limits(), LaunchLimits::Process(_)));
    assert!(matches!(container.limits(), LaunchLimits::Container(_)));
    assert_eq!(http.limits(), LaunchLimits::Remote);
    assert!(npm.clone().with_network(true).network());
    assert!(
        http.clone().with_network(false).network(),
        "a remote server is reached"
    );
}

#[test]
fn redacted_hides_values_and_keeps_names() {
    let mut spec = example(RuntimeKind::Pypi);
    spec.package_mut()
        .unwrap()
        .env
        .insert("API_KEY".into(), "k-123".into());
    let shown = spec.redacted();
    assert_eq!(shown.package().unwrap().env["API_KEY"], HIDDEN);
}

#[test]
fn the_schema_documents_every_kind_as_one_object() {
    let schema = serde_json::to_value(<LaunchSpec as utoipa::PartialSchema>::schema()).unwrap();
    let kinds = schema["oneOf"].as_array().unwrap();
    let mut documented: Vec<&str> = kinds
        .iter()
        .map(|kind| kind["properties"]["runtime"]["enum"][0].as_str().unwrap())
        .collect();
    let mut listed: Vec<&str> = RuntimeKind::ALL.map(RuntimeKind::as_str).to_vec();
    documented.sort_unstable();
    listed.sort_unstable();
    assert_eq!(documented, listed);
    for kind in kinds {
        assert_eq!(kind["type"], "object", "{kind}");
        assert!(
            kind["required"]
                .as_array()
                .unwrap()
                .contains(&json!("runtime")),
            "{kind}"
        );
    }
}
