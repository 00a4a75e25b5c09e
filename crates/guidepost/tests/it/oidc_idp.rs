//! An organization's own identity provider for the `custom_oauth` tests: a real OpenID
//! Connect provider (`oidc-provider` from npm, tests/e2e/oidc_provider.mjs) on a free port,
//! and a platform whose `acme` server federates sign-in to it.

use std::process::Stdio;
use std::time::Duration;

use guidepost_core::secrets::MasterKey;
use guidepost_testkit::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::node;
use crate::oauth_helpers::{OAuthApp, Page, Person, REDIRECT_URI, oauth_app};

pub const CLIENT_ID: &str = "guidepost";
pub const CLIENT_SECRET: &str = "acme-idp-client-secret-4f1c";
pub const USER: &str = "ada";
pub const PASSWORD: &str = "correct horse";
pub const EMAIL: &str = "ada@acme.example";

/// The provider process; killed when dropped.
pub struct Idp {
    pub issuer: String,
    /// With `--mcp`: the URL of the MCP server it authorizes for (tests/e2e/mcp_resource.mjs).
    pub mcp: Option<String>,
    _child: tokio::process::Child,
}

impl Idp {
    /// Starts the provider with the platform's callback URLs as the client's redirect URIs.
    pub async fn start(redirect_uris: &[String], extra: &[&str]) -> Self {
        let script = node::e2e_dir().join("oidc_provider.mjs");
        node::package_file("oidc-provider/package.json");
        let mut command = tokio::process::Command::new(node::node());
        command
            .arg(&script)
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .args(["--user", USER, "--password", PASSWORD, "--email", EMAIL])
            .args(extra)
            .current_dir(node::e2e_dir())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for uri in redirect_uris {
            command.args(["--redirect-uri", uri]);
        }
        let mut child = command.spawn().expect("node starts the OIDC provider");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        // Generous: a cold Node start on a busy 2-core machine.
        let first = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the OIDC provider is ready within 60 s")
            .expect("its stdout is readable")
            .expect("it prints where it listens");
        let ready: Value = serde_json::from_str(&first).expect("a JSON line");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            issuer: ready["issuer"].as_str().unwrap().to_owned(),
            mcp: ready["mcp"].as_str().map(str::to_owned),
            _child: child,
        }
    }

    /// Every token response the provider gave (to the platform, its only client).
    pub async fn issued_tokens(&self) -> Vec<Value> {
        let url = format!("{}/test/issued", self.issuer);
        let issued: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        issued.as_array().cloned().unwrap_or_default()
    }
}

/// A fixed master key for the tests.
pub fn master_key() -> MasterKey {
    MasterKey::from_bytes(*b"guidepost-test-master-key-32-byt")
}

/// A platform with a master key, whose `acme` server federates sign-in to a fresh
/// provider; `idp_args` adjust the provider.
pub struct CustomApp {
    pub oauth: OAuthApp,
    pub idp: Idp,
    pub server_id: String,
}

pub async fn custom_app(db: &TestDatabase, idp_args: &[&str]) -> CustomApp {
    let oauth = oauth_app(db, &[], |settings| {
        settings.platform.master_key = Some(master_key());
        settings.auth.oidc_allow_private = true;
    })
    .await;
    let app = &oauth.app;
    let server = app
        .create_server(&oauth.tenant, "acme", json!({"product_name": "Acme Cloud"}))
        .await;
    let server_id = server["id"].as_str().unwrap().to_owned();
    let callback = format!("{}/oidc/callback", oauth.issuer("acme"));
    let idp = Idp::start(&[callback], idp_args).await;
    let body =
        json!({"issuer_url": idp.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET});
    let path = format!("/servers/{server_id}/oidc");
    let key = &oauth.tenant.key;
    let (status, view) = app.api(reqwest::Method::PUT, &path, key, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let patch = json!({"auth_mode": "custom_oauth"});
    let (status, updated) = app
        .api(
            reqwest::Method::PATCH,
            &format!("/servers/{server_id}"),
            key,
            Some(patch),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    CustomApp {
        oauth,
        idp,
        server_id,
    }
}

/// Resolves a form action (possibly relative) against the page's URL.
fn absolute(base: &str, action: &str) -> String {
    url::Url::parse(base)
        .unwrap()
        .join(action)
        .unwrap()
        .to_string()
}

/// The person's way through the platform to the provider's sign-in form: returns the form
/// page and its URL.
pub async fn reach_idp_form(person: &mut Person, authorize_url: &str) -> (String, Page) {
    let redirect = person.get(authorize_url).await;
    assert_eq!(redirect.status, StatusCode::SEE_OTHER, "{}", redirect.body);
    let login = redirect.location.expect("the platform's login page");
    // The login page of a custom_oauth server is a redirect to the provider.
    let to_idp = person.get(&login).await;
    assert_eq!(to_idp.status, StatusCode::SEE_OTHER, "{}", to_idp.body);
    let idp_url = to_idp
        .location
        .expect("the provider's authorization endpoint");
    let mut url = idp_url.clone();
    for _ in 0..5 {
        let page = person.get(&url).await;
        match page.location.clone() {
            Some(next) => url = absolute(&url, &next),
            None => {
                assert_eq!(page.status, StatusCode::OK, "{}", page.body);
                return (url, page);
            }
        }
    }
    panic!("the provider's sign-in form was not reached from {idp_url}");
}

/// Posts the provider's form; follows redirects back through the platform's callback until
/// a platform page answers. Returns that page and the login page URL it belongs to.
pub async fn submit_idp_form(
    person: &mut Person,
    form_url: &str,
    form: &Page,
    fields: &[(&str, &str)],
) -> Page {
    let action = absolute(form_url, &form.action(""));
    let answer = person.post(&action, fields).await;
    let Some(next) = answer.location.clone() else {
        return answer;
    };
    person.follow(&absolute(&action, &next), REDIRECT_URI).await
}

/// Signs `USER` in at the provider and returns the platform's consent page.
pub async fn sign_in_at_idp(person: &mut Person, authorize_url: &str) -> Page {
    let (form_url, form) = reach_idp_form(person, authorize_url).await;
    assert!(form.body.contains("name=\"password\""), "{}", form.body);
    let fields = [
        ("username", USER),
        ("password", PASSWORD),
        ("action", "login"),
    ];
    submit_idp_form(person, &form_url, &form, &fields).await
}
