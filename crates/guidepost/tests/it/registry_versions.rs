//! Registry versions, with the tests' own registry serving the tests' own PyPI
//! package (`upgrade_index`) in two versions:
//! - after a sync brings a newer version of the entry an upstream was installed from, the
//!   API says `upgrade_available` with the `latest_version`, and the dashboard's upstream
//!   page and list show an "Upgrade available" badge linking to the upgrade form with that
//!   version filled in; upgrading makes it go, and the catalog lists every version;
//! - an older version is installed or upgraded to by `version`, an unknown one is refused
//!   with the versions there are;
//! - an argument declared `isSecret` is a secret of the installation: refused when
//!   missing, on the process's command line when given, never in its environment nor
//!   shown by the API.

use std::time::Duration;

use guidepost_core::secrets::MasterKey;
use guidepost_domain::Role;
use guidepost_testkit::{TestDatabase, backend_tests, eventually};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::dashboard::{dashboard_app_with, member};
use crate::gateway::{settled, shared_cache};
use crate::gateway_fixture::text_of;
use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp};
use crate::node;
use crate::oauth_helpers::OAuthApp;
use crate::registry_server::TestRegistry;
use crate::upgrade_index::{PACKAGE, PackageIndex, Release};

const NAME: &str = "io.example/versioned";
const TOKEN: &str = "tok-argv-5d21e7";

/// A version of the entry, running `package_version` of the tests' package, with the
/// arguments given.
fn versioned(version: &str, package_version: &str, arguments: Value) -> Value {
    json!({
        "$schema": "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json",
        "name": NAME,
        "description": "The tests' upstream, published in versions.",
        "version": version,
        "packages": [{
            "registryType": "pypi",
            "identifier": PACKAGE,
            "version": package_version,
            "transport": {"type": "stdio"},
            "packageArguments": arguments
        }]
    })
}

struct Setup {
    app: OAuthApp,
    registry: TestRegistry,
    _index: PackageIndex,
    cache: std::path::PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.cache);
    }
}

/// An app syncing the tests' registry every second, fetching from the tests' index, with
/// `first` published; once it is in the catalog.
async fn setup(db: &TestDatabase, first: Value) -> Setup {
    let index = PackageIndex::publish(&[
        Release {
            version: "1.0.0",
            descriptions: json!({}),
        },
        Release {
            version: "1.1.0",
            descriptions: json!({"fresh": "New in 1.1.0."}),
        },
    ])
    .await;
    let cache = shared_cache().with_file_name(format!(
        "registry-versions-cache-{}-{}",
        std::process::id(),
        db.url.len()
    ));
    let registry = TestRegistry::start().await;
    registry.publish(first, "active", "2026-01-01T00:00:00Z");
    let (url, index_url, cache_dir) = (registry.url.clone(), index.url.clone(), cache.clone());
    let app = dashboard_app_with(db, move |settings| {
        let toolchain = &mut settings.gateway.toolchain;
        toolchain.cache_dir = cache_dir;
        toolchain.node = node::node();
        toolchain.python = crate::helpers::python();
        toolchain.pypi_index_url = Some(index_url);
        settings.platform.registries = vec![url];
        settings.platform.master_key = Some(MasterKey::from_bytes([7; 32]));
        settings.registries.allow_private = true;
        settings.registries.interval = Duration::from_secs(1);
    })
    .await;
    app.app.trust_new_tools(&app.tenant).await;
    eventually("the registry's entry is in the catalog", async || {
        let (_, catalog) = app
            .app
            .get("/catalog?source=registry", &app.tenant.key)
            .await;
        catalog["items"]
            .as_array()
            .is_some_and(|items| !items.is_empty())
    })
    .await;
    Setup {
        app,
        registry,
        _index: index,
        cache,
    }
}

/// Installs `body` and waits until it is ready.
async fn installed(app: &TestApp, tenant: &Tenant, body: Value) -> Value {
    let (status, installed) = app
        .api(Method::POST, "/upstreams", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{installed}");
    let ready = settled(app, tenant, installed["id"].as_str().unwrap()).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    ready
}

/// The upstream attached to a new hosted server `slug` as `fx`.
async fn attached(app: &TestApp, tenant: &Tenant, upstream: &str, slug: &str) -> RawMcp {
    let server = app.create_server(tenant, slug, json!({})).await;
    let path = format!(
        "/servers/{}/upstreams/{upstream}",
        server["id"].as_str().unwrap()
    );
    let (status, attached) = app
        .api(
            Method::PUT,
            &path,
            &tenant.key,
            Some(json!({"prefix": "fx"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{attached}");
    RawMcp::new(app.mcp_path_url(slug), STATELESS_ERA)
}

/// What the upstream answering `fx__whereami` says of itself.
async fn whereami(mcp: &RawMcp) -> Value {
    let answer = mcp.call_tool(1, "fx__whereami", json!({})).await;
    serde_json::from_str(&text_of(&answer.body)).unwrap_or_else(|_| panic!("{}", answer.body))
}

async fn upgrade_is_offered_when_a_newer_version_is_synced_and_goes_once_upgraded(
    db: &TestDatabase,
) {
    let setup = setup(db, versioned("1.0.0", "1.0.0", json!([]))).await;
    let (app, tenant) = (&setup.app.app, &setup.app.tenant);
    let upstream = installed(app, tenant, json!({"catalog_entry_id": NAME})).await;
    let id = upstream["id"].as_str().unwrap().to_owned();
    assert_eq!(upstream["catalog_entry_version"], "1.0.0", "{upstream}");
    assert_eq!(upstream["upgrade_available"], false, "{upstream}");
    let mut editor = member(&setup.app, tenant, "ed@acme.example", Role::Editor).await;
    let page_path = format!("/app/gateway/upstreams/{id}");
    assert!(
        !editor
            .get(&page_path)
            .await
            .ok()
            .contains("Upgrade available")
    );

    // A newer version is published; the next sync brings it.
    let newer = versioned("2.0.0", "1.1.0", json!([]));
    setup
        .registry
        .publish(newer, "active", "2026-02-01T00:00:00Z");
    let mut seen = Value::Null;
    eventually("the upstream says an upgrade is available", async || {
        seen = app.get(&format!("/upstreams/{id}"), &tenant.key).await.1;
        seen["upgrade_available"] == true
    })
    .await;
    assert_eq!(seen["latest_version"], "2.0.0", "{seen}");
    assert_eq!(seen["catalog_entry_version"], "1.0.0", "{seen}");
    let (_, catalog) = app.get("/catalog?source=registry", &tenant.key).await;
    let listed = &catalog["items"][0];
    assert_eq!(listed["version"], "2.0.0", "{listed}");
    assert_eq!(listed["versions"], json!(["2.0.0", "1.0.0"]), "{listed}");
    let catalog_page = editor.get("/app/gateway/catalog?source=registry").await;
    assert!(
        catalog_page
            .ok()
            .contains("(version 2.0.0, active; also 1.0.0)"),
        "the catalog page shows the latest and the others: {}",
        catalog_page.body
    );

    let link = format!("{page_path}?version=2.0.0#upgrade-version");
    let list = editor.get("/app/gateway").await;
    assert!(
        list.ok().contains(&format!("href=\"{link}\"")) && list.ok().contains("Upgrade available"),
        "the list links to the form: {}",
        list.body
    );
    let page = editor.get(&page_path).await;
    assert!(
        page.ok().contains("id=\"upgrade-available\""),
        "{}",
        page.body
    );
    assert!(
        page.ok().contains(&format!("href=\"{link}\"")),
        "{}",
        page.body
    );
    let form = editor.get(&format!("{page_path}?version=2.0.0")).await;
    assert!(
        form.ok().contains("id=\"upgrade-version\" name=\"version\" type=\"text\" maxlength=\"100\" value=\"2.0.0\""),
        "the form holds the new version: {}",
        form.body
    );

    // The form upgrades it: the new version's package runs, and the badge is gone.
    let upgraded = editor
        .post(&format!("{page_path}/upgrade"), &[("version", "2.0.0")])
        .await;
    assert_eq!(upgraded.status, StatusCode::SEE_OTHER, "{}", upgraded.body);
    let (_, after) = app.get(&format!("/upstreams/{id}"), &tenant.key).await;
    assert_eq!(after["catalog_entry_version"], "2.0.0", "{after}");
    assert_eq!(after["version"], "1.1.0", "the package of 2.0.0: {after}");
    assert_eq!(after["upgrade_available"], false, "{after}");
    assert!(
        !editor
            .get(&page_path)
            .await
            .ok()
            .contains("Upgrade available")
    );
    assert!(
        !editor
            .get("/app/gateway")
            .await
            .ok()
            .contains("Upgrade available")
    );
    // The old process answers until the new one is up.
    let mcp = attached(app, tenant, &id, "acme").await;
    eventually("the new version answers", async || {
        whereami(&mcp).await["version"] == "1.1.0"
    })
    .await;

    // An older version is installed by `version`, and an unknown one is refused.
    let older = installed(
        app,
        tenant,
        json!({"catalog_entry_id": NAME, "version": "1.0.0", "name": "Older"}),
    )
    .await;
    assert_eq!(older["catalog_entry_version"], "1.0.0", "{older}");
    assert_eq!(older["version"], "1.0.0", "{older}");
    assert_eq!(older["upgrade_available"], true, "{older}");
    let body = json!({"catalog_entry_id": NAME, "version": "9.9.9"});
    let (status, problem) = app
        .api(Method::POST, "/upstreams", &tenant.key, Some(body))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem.to_string().contains("2.0.0, 1.0.0"),
        "the versions there are: {problem}"
    );
    let path = format!("/upstreams/{id}");
    let (status, problem) = app
        .api(
            Method::PATCH,
            &path,
            &tenant.key,
            Some(json!({"version": "9.9.9"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // And the first one goes back to 1.0.0 by PATCH.
    let (status, back) = app
        .api(
            Method::PATCH,
            &path,
            &tenant.key,
            Some(json!({"version": "1.0.0"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(
        (
            back["catalog_entry_version"].as_str(),
            back["version"].as_str()
        ),
        (Some("1.0.0"), Some("1.0.0")),
        "{back}"
    );
    assert_eq!(back["upgrade_available"], true, "{back}");
}

async fn a_secret_argument_is_asked_for_and_reaches_only_the_command_line(db: &TestDatabase) {
    let arguments = json!([{"type": "named", "name": "--token", "description": "The service's token.",
        "isSecret": true, "isRequired": true}]);
    let setup = setup(db, versioned("1.0.0", "1.0.0", arguments)).await;
    let (app, tenant) = (&setup.app.app, &setup.app.tenant);
    let (_, catalog) = app.get("/catalog?source=registry", &tenant.key).await;
    let listed = &catalog["items"][0];
    assert!(listed["not_installable"].is_null(), "installable: {listed}");
    assert_eq!(
        listed["secrets"],
        json!([{"name": "TOKEN", "description": "The service's token."}]),
        "{listed}"
    );

    let (status, problem) = app
        .api(
            Method::POST,
            "/upstreams",
            &tenant.key,
            Some(json!({"catalog_entry_id": NAME})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert!(
        problem.to_string().contains("TOKEN"),
        "the missing secret is named: {problem}"
    );
    let (_, upstreams) = app.get("/upstreams", &tenant.key).await;
    assert_eq!(upstreams["items"], json!([]), "nothing was installed");

    let body = json!({"catalog_entry_id": NAME, "secrets": {"TOKEN": TOKEN}});
    let upstream = installed(app, tenant, body).await;
    let id = upstream["id"].as_str().unwrap().to_owned();
    let seen = whereami(&attached(app, tenant, &id, "acme").await).await;
    assert_eq!(
        seen["args"],
        json!(["--token", TOKEN]),
        "on its command line: {seen}"
    );
    let env_names = seen["env_names"].as_array().unwrap();
    assert!(
        !env_names.contains(&json!("TOKEN")),
        "not also in its environment: {seen}"
    );
    for path in [format!("/upstreams/{id}"), "/upstreams".to_owned()] {
        let (_, shown) = app.get(&path, &tenant.key).await;
        assert!(!shown.to_string().contains(TOKEN), "never shown: {shown}");
    }
    assert_eq!(
        upstream["spec"]["args"],
        json!(["--token", "${secret.TOKEN}"]),
        "{upstream}"
    );
    assert_eq!(upstream["secret_names"], json!(["TOKEN"]), "{upstream}");
    let mut editor = member(&setup.app, tenant, "ed@acme.example", Role::Editor).await;
    let page = editor.get(&format!("/app/gateway/upstreams/{id}")).await;
    assert!(!page.ok().contains(TOKEN), "the dashboard never shows it");
}

/// server.json cannot say whether a package needs the internet: a registry entry asks for
/// none, the installer may give it one, and an upgrade to another version keeps it.
async fn a_network_given_at_install_outlives_an_upgrade(db: &TestDatabase) {
    let setup = setup(db, versioned("1.0.0", "1.0.0", json!([]))).await;
    let (app, tenant) = (&setup.app.app, &setup.app.tenant);
    let mut editor = member(&setup.app, tenant, "ed@acme.example", Role::Editor).await;
    let form = editor
        .get(&format!(
            "/app/gateway/catalog/{}/install",
            NAME.replace('/', "%2F")
        ))
        .await;
    assert!(
        form.ok()
            .contains("<option value=\"none\" selected>None</option>"),
        "the form asks, none chosen: {}",
        form.body
    );
    let plain = installed(
        app,
        tenant,
        json!({"catalog_entry_id": NAME, "name": "plain"}),
    )
    .await;
    assert_eq!(plain["spec"]["network"], false, "{plain}");
    let body = json!({"catalog_entry_id": NAME, "name": "online", "network": true});
    let online = installed(app, tenant, body).await;
    assert_eq!(online["spec"]["network"], true, "{online}");
    let id = online["id"].as_str().unwrap().to_owned();

    let newer = versioned("2.0.0", "1.1.0", json!([]));
    setup
        .registry
        .publish(newer, "active", "2026-02-01T00:00:00Z");
    eventually("the newer version is synced", async || {
        app.get(&format!("/upstreams/{id}"), &tenant.key).await.1["upgrade_available"] == true
    })
    .await;
    let (status, upgraded) = app
        .api(
            Method::PATCH,
            &format!("/upstreams/{id}"),
            &tenant.key,
            Some(json!({"version": "2.0.0"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    let (_, after) = app.get(&format!("/upstreams/{id}"), &tenant.key).await;
    assert_eq!(after["catalog_entry_version"], "2.0.0", "{after}");
    assert_eq!(
        after["spec"]["network"], true,
        "the network is kept: {after}"
    );
}

backend_tests! {
    async fn registry_packages_get_a_network_when_given_one(db: &TestDatabase) {
        a_network_given_at_install_outlives_an_upgrade(db).await;
    }

    async fn registry_versions_offer_an_upgrade_until_it_is_made(db: &TestDatabase) {
        upgrade_is_offered_when_a_newer_version_is_synced_and_goes_once_upgraded(db).await;
    }

    async fn registry_secret_arguments_reach_only_the_command_line(db: &TestDatabase) {
        a_secret_argument_is_asked_for_and_reaches_only_the_command_line(db).await;
    }
}
