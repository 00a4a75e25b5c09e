//! A test OAuth client and a test person: dynamic registration, the authorization request
//! with PKCE, the sign-in pages followed over plain HTTP (the code read from the mail
//! outbox), and the token endpoint.

use std::path::PathBuf;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guidepost_testkit::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{RawMcp, STATELESS_ERA, Tenant, TestApp, spawn_app_with};

pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// An application whose mail goes to its own outbox directory.
pub struct OAuthApp {
    pub app: TestApp,
    pub outbox: PathBuf,
    pub tenant: Tenant,
}

impl Drop for OAuthApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.outbox);
    }
}

/// Starts the application with a fresh outbox and CIMD fetches allowed on loopback, and an
/// organization "Acme" with a `platform_oauth` server per slug.
pub async fn oauth_app(
    db: &TestDatabase,
    slugs: &[&str],
    adjust: impl FnOnce(&mut guidepost::config::Settings),
) -> OAuthApp {
    let outbox = std::env::temp_dir().join(format!(
        "guidepost-outbox-{}",
        guidepost_domain::random_token("").to_lowercase()
    ));
    let dir = outbox.clone();
    let app = spawn_app_with(db, move |settings| {
        settings.auth.mail_outbox = dir;
        settings.auth.cimd_allow_private = true;
        adjust(settings);
    })
    .await;
    let tenant = app.create_tenant("Acme").await;
    for slug in slugs {
        let body = json!({"auth_mode": "platform_oauth", "product_name": format!("{slug} cloud")});
        app.create_server(&tenant, slug, body).await;
    }
    OAuthApp {
        app,
        outbox,
        tenant,
    }
}

impl OAuthApp {
    pub fn issuer(&self, slug: &str) -> String {
        format!("{}/s/{slug}", self.app.url)
    }

    pub fn resource(&self, slug: &str) -> String {
        format!("{}/s/{slug}/mcp", self.app.url)
    }

    /// The newest one-time code mailed to `email`, read from the outbox.
    pub fn code_for(&self, email: &str) -> String {
        let mut mails: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&self.outbox)
            .expect("the outbox exists")
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let text = std::fs::read_to_string(entry.path()).ok()?;
                let modified = entry.metadata().ok()?.modified().ok()?;
                text.contains(&format!("To: {email}"))
                    .then_some((modified, text))
            })
            .collect();
        mails.sort_by_key(|(time, _)| *time);
        let (_, mail) = mails.last().expect("a mail to that address");
        let subject = mail
            .lines()
            .find_map(|line| line.strip_prefix("Subject: "))
            .expect("a subject");
        subject.split_whitespace().next().unwrap().to_owned()
    }

    /// A client registered by RFC 7591 at a server's issuer.
    pub async fn register(&self, slug: &str, extra: Value) -> OAuthClient {
        let mut body = json!({"client_name": "Test client", "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token"], "token_endpoint_auth_method": "none"});
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        let response = self
            .app
            .http
            .post(format!("{}/register", self.issuer(slug)))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let registered: Value = response.json().await.unwrap();
        OAuthClient {
            id: registered["client_id"].as_str().unwrap().to_owned(),
            secret: registered["client_secret"].as_str().map(str::to_owned),
            redirect_uri: REDIRECT_URI.to_owned(),
        }
    }

    /// The whole flow for `email` on `slug`: registration, authorization, sign-in, consent
    /// and the code exchange.
    pub async fn sign_in(&self, slug: &str, email: &str) -> Tokens {
        let client = self.register(slug, json!({})).await;
        let pkce = Pkce::new();
        let url = self.authorize_url(slug, &client, &pkce, &[]);
        let callback = self.person(email).approve(self, &url).await;
        let tokens = self
            .exchange(slug, &client, &callback.code, &pkce.verifier)
            .await;
        let (status, body) = tokens;
        assert_eq!(status, StatusCode::OK, "token exchange: {body}");
        Tokens::from_response(client, body)
    }

    pub fn authorize_url(
        &self,
        slug: &str,
        client: &OAuthClient,
        pkce: &Pkce,
        overrides: &[(&str, Option<&str>)],
    ) -> String {
        let resource = self.resource(slug);
        let mut params = vec![
            ("response_type", Some("code")),
            ("client_id", Some(client.id.as_str())),
            ("redirect_uri", Some(client.redirect_uri.as_str())),
            ("state", Some("st-123")),
            ("code_challenge", Some(pkce.challenge.as_str())),
            ("code_challenge_method", Some("S256")),
            ("scope", Some("mcp")),
            ("resource", Some(resource.as_str())),
        ];
        for (name, value) in overrides {
            params.retain(|(n, _)| n != name);
            params.push((name, *value));
        }
        let query: Vec<(&str, &str)> = params
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v)))
            .collect();
        let encoded = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        format!("{}/authorize?{encoded}", self.issuer(slug))
    }

    pub fn person(&self, email: &str) -> Person {
        Person::new(email)
    }

    /// POSTs the authorization code grant; returns the status and JSON body.
    pub async fn exchange(
        &self,
        slug: &str,
        client: &OAuthClient,
        code: &str,
        verifier: &str,
    ) -> (StatusCode, Value) {
        let resource = self.resource(slug);
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("client_id", client.id.as_str()),
            ("code_verifier", verifier),
            ("resource", resource.as_str()),
        ];
        self.token_request(slug, client, &form).await
    }

    pub async fn refresh(
        &self,
        slug: &str,
        client: &OAuthClient,
        refresh_token: &str,
    ) -> (StatusCode, Value) {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client.id.as_str()),
        ];
        self.token_request(slug, client, &form).await
    }

    pub async fn token_request(
        &self,
        slug: &str,
        client: &OAuthClient,
        form: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut request = self
            .app
            .http
            .post(format!("{}/token", self.issuer(slug)))
            .form(form);
        if let Some(secret) = &client.secret {
            request = request.basic_auth(&client.id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        if status == StatusCode::OK {
            assert_eq!(
                response.headers()["cache-control"],
                "no-store",
                "token responses are never cached"
            );
        }
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// A stateless-era MCP client with a bearer token (and an optional tracking id).
    pub fn mcp(&self, slug: &str, token: Option<&str>, tracking_id: Option<&str>) -> RawMcp {
        let mut url = self.app.mcp_path_url(slug);
        if let Some(tracking_id) = tracking_id {
            url = format!("{url}?tracking_id={tracking_id}");
        }
        let mut mcp = RawMcp::new(url, STATELESS_ERA);
        if let Some(token) = token {
            let mut headers = reqwest::header::HeaderMap::new();
            let value = format!("Bearer {token}").parse().unwrap();
            headers.insert(reqwest::header::AUTHORIZATION, value);
            mcp.http = reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap();
        }
        mcp
    }
}

pub struct OAuthClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

pub struct Tokens {
    pub client: OAuthClient,
    pub access: String,
    pub refresh: Option<String>,
}

impl Tokens {
    fn from_response(client: OAuthClient, body: Value) -> Self {
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["expires_in"].as_i64().unwrap() > 0);
        Self {
            client,
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().map(str::to_owned),
        }
    }
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = format!(
            "{}{}",
            guidepost_domain::random_token("v"),
            guidepost_domain::random_token("-")
        );
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// Where the browser was sent back to the client.
#[derive(Debug)]
pub struct Callback {
    pub code: String,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
}

impl Callback {
    pub fn parse(location: &str) -> Self {
        let url = url::Url::parse(location).expect("an absolute redirect");
        let get = |name: &str| {
            url.query_pairs()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.into_owned())
        };
        Self {
            code: get("code").unwrap_or_default(),
            state: get("state"),
            iss: get("iss"),
            error: get("error"),
        }
    }
}

/// A person in a browser without JavaScript: keeps cookies, follows no redirect itself.
pub struct Person {
    pub email: String,
    http: reqwest::Client,
    cookies: Vec<String>,
}

/// A page as the browser got it.
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The value of the hidden CSRF field.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf_token\" value=\"";
        let start = self.body.find(marker).expect("a CSRF field") + marker.len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    /// The link back to the app on an error page (the person may follow it), unescaped.
    pub fn return_link(&self) -> Option<String> {
        let (_, rest) = self.body.split_once("<a href=\"")?;
        let (href, text) = rest.split_once('"')?;
        text.contains("Return to")
            .then(|| href.replace("&amp;", "&"))
    }

    /// The action of the form that posts to `…/{ending}`.
    pub fn action(&self, ending: &str) -> String {
        self.body
            .split("action=\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .find(|action| action.ends_with(ending))
            .unwrap_or_else(|| panic!("a form posting to {ending}: {}", self.body))
            .to_owned()
    }
}

impl Person {
    pub fn new(email: &str) -> Self {
        Self {
            email: email.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: Vec::new(),
        }
    }

    /// The names of the cookies this browser holds.
    pub fn cookie_names(&self) -> Vec<&str> {
        self.cookies
            .iter()
            .filter_map(|c| c.split('=').next())
            .collect()
    }

    async fn keep(&mut self, response: reqwest::Response) -> Page {
        for cookie in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let cookie = cookie.to_str().unwrap();
            let pair = cookie.split(';').next().unwrap().trim().to_owned();
            let name = pair.split('=').next().unwrap_or_default().to_owned();
            // A cookie set again replaces the old one; an expired one is dropped.
            self.cookies
                .retain(|kept| kept.split('=').next() != Some(name.as_str()));
            let lower = cookie.to_ascii_lowercase();
            let expired = lower.contains("max-age=0") || lower.contains("expires=thu, 01 jan 1970");
            if !expired && !pair.ends_with('=') {
                self.cookies.push(pair);
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap_or_default();
        Page {
            status,
            location,
            body,
        }
    }

    pub async fn get(&mut self, url: &str) -> Page {
        let request = self
            .http
            .get(url)
            .header(reqwest::header::COOKIE, self.cookies.join("; "));
        let response = request.send().await.unwrap();
        self.keep(response).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Page {
        let request = self
            .http
            .post(url)
            .header(reqwest::header::COOKIE, self.cookies.join("; "))
            .form(form);
        let response = request.send().await.unwrap();
        self.keep(response).await
    }

    /// GETs `url` and follows redirects (relative ones too) until a page answers, or a
    /// redirect leads to an address starting with `stop` (returned as the page's
    /// `location`, not followed).
    pub async fn follow(&mut self, url: &str, stop: &str) -> Page {
        let mut url = url.to_owned();
        for _ in 0..20 {
            let page = self.get(&url).await;
            let Some(location) = page.location.clone() else {
                return page;
            };
            let next = url::Url::parse(&url)
                .unwrap()
                .join(&location)
                .unwrap()
                .to_string();
            if next.starts_with(stop) {
                return Page {
                    location: Some(next),
                    ..page
                };
            }
            url = next;
        }
        panic!("more than 20 redirects from {url}");
    }

    /// Opens the authorization URL and arrives on the login page.
    pub async fn start(&mut self, authorize_url: &str) -> (String, Page) {
        let redirect = self.get(authorize_url).await;
        assert_eq!(redirect.status, StatusCode::SEE_OTHER, "{}", redirect.body);
        let login = redirect.location.expect("a login page");
        let page = self.get(&login).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        (login, page)
    }

    /// Posts the email and arrives on the code page.
    pub async fn send_email(&mut self, login: &str, page: &Page) -> Page {
        let email = self.email.clone();
        let done = self
            .post(
                &page.action("/email"),
                &[("csrf_token", &page.csrf()), ("email", &email)],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        self.get(login).await
    }

    /// Posts a code and returns the answer.
    pub async fn send_code(&mut self, page: &Page, code: &str) -> Page {
        self.post(
            &page.action("/code"),
            &[("csrf_token", &page.csrf()), ("code", code)],
        )
        .await
    }

    /// Signs in with the code from the outbox and approves; returns the callback.
    pub async fn approve(self, app: &OAuthApp, authorize_url: &str) -> Callback {
        Callback::parse(&self.approve_to(app, authorize_url, REDIRECT_URI).await)
    }

    /// As [`Person::approve`], for a client whose redirect URI starts with `redirect`:
    /// the whole URL the browser is sent back to.
    pub async fn approve_to(
        mut self,
        app: &OAuthApp,
        authorize_url: &str,
        redirect: &str,
    ) -> String {
        self.approve_keeping(app, authorize_url, redirect).await
    }

    /// As [`Person::approve_to`], keeping the browser (and its cookies) for what follows.
    pub async fn approve_keeping(
        &mut self,
        app: &OAuthApp,
        authorize_url: &str,
        redirect: &str,
    ) -> String {
        let (login, page) = self.start(authorize_url).await;
        let code_page = self.send_email(&login, &page).await;
        let code = app.code_for(&self.email);
        let signed_in = self.send_code(&code_page, &code).await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        let consent = self.get(&login).await;
        assert!(
            consent.body.contains(&self.email),
            "the consent page names the person"
        );
        let answer = self
            .post(
                &consent.action("/consent"),
                &[("csrf_token", &consent.csrf()), ("decision", "approve")],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let location = answer.location.expect("back to the client");
        assert!(location.starts_with(redirect), "{location}");
        location
    }
}
