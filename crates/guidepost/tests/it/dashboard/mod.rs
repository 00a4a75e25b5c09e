//! The dashboard (`/app`) over plain HTTP, as a browser without JavaScript uses it:
//! [`Browser`] keeps cookies, follows nothing by itself, and sends each form with the form
//! token of the last page it read. The journeys in a real Chromium are in `browser.rs`.

mod access;
mod analytics;
mod assets;
mod audit;
mod browser;
mod browser_forms;
mod bulk_review;
mod call_log;
mod catalog_entries;
mod connect_journey;
mod connections;
mod feedback;
mod forms;
pub(crate) mod gateway;
mod gateway_access;
mod gateway_diagnosis;
mod gateway_features;
mod identity_provider;
mod members;
mod missing;
mod overview;
mod personal_data;
mod policies;
mod search;
mod servers;
mod shown_once;
mod sign_in;
mod support;
mod support_replies;
mod tester;
mod tool_switches;
mod walkthrough_import;
mod walkthrough_list;
mod walkthroughs;

use std::collections::BTreeMap;

use guidepost_domain::{Email, OrgId, Role};
use reqwest::StatusCode;

use crate::helpers::Tenant;
use crate::oauth_helpers::{OAuthApp, oauth_app};
use guidepost_testkit::TestDatabase;

/// An application with a mail outbox and the organization "Acme".
pub async fn dashboard_app(db: &TestDatabase) -> OAuthApp {
    oauth_app(db, &[], |_| {}).await
}

/// [`dashboard_app`] with its settings adjusted first (a master key, limits, …).
pub async fn dashboard_app_with(
    db: &TestDatabase,
    adjust: impl FnOnce(&mut guidepost::config::Settings),
) -> OAuthApp {
    oauth_app(db, &[], adjust).await
}

/// One answer of the dashboard.
#[derive(Debug)]
pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    /// The `Refresh` header: the seconds after which the page reloads itself.
    pub refresh: Option<String>,
    pub body: String,
}

impl Page {
    /// Asserts a 303 to a location starting with `prefix`; the location.
    pub fn redirected_to(&self, prefix: &str) -> String {
        assert_eq!(self.status, StatusCode::SEE_OTHER, "{}", self.body);
        let location = self.location.clone().expect("a Location");
        assert!(
            location.starts_with(prefix),
            "{location} is not under {prefix}"
        );
        location
    }

    /// `redirected_to`, without the query and fragment (the notice after an action).
    pub fn redirected_path(&self, prefix: &str) -> String {
        let location = self.redirected_to(prefix);
        location
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    /// The body with HTML's character references for quotes, brackets and ampersands
    /// turned back into characters (how a person reads the page).
    pub fn text(&self) -> String {
        self.body
            .replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    }

    pub fn ok(&self) -> &str {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        &self.body
    }

    /// Asserts a refusal with `status` whose page holds each of `marks` (the error's id
    /// beside its field, its words, a kept value); the body.
    pub fn refused(&self, status: StatusCode, marks: &[&str]) -> &str {
        assert_eq!(self.status, status, "{}", self.body);
        for mark in marks {
            assert!(
                self.body.contains(mark),
                "{mark:?} is not on the page: {}",
                self.body
            );
        }
        &self.body
    }
}

/// A cookie-keeping HTTP client at the dashboard.
pub struct Browser {
    pub base: String,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
    csrf: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Browser {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: BTreeMap::new(),
            csrf: String::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn read(&mut self, response: reqwest::Response) -> Page {
        for value in response.headers().get_all(reqwest::header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || text.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        let status = response.status();
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        let refresh = response
            .headers()
            .get("refresh")
            .map(|r| r.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        if let Some(token) = form_token(&body) {
            self.csrf = token;
        }
        Page {
            status,
            location,
            refresh,
            body,
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Posts a form as the browser would from one of our pages: same origin, with the
    /// last page's form token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf.clone();
        self.post_raw(path, fields, Some(&token), Some("same-origin"))
            .await
    }

    /// Posts with a chosen form token and `Sec-Fetch-Site` (None: not sent).
    pub async fn post_raw(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        token: Option<&str>,
        fetch_site: Option<&str>,
    ) -> Page {
        self.send_raw(reqwest::Method::POST, path, fields, token, fetch_site)
            .await
    }

    /// Sends a form with any method (forms only post, but a router may serve others),
    /// from one of our pages: same origin, with the last page's form token.
    pub async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Page {
        let token = self.csrf.clone();
        self.send_raw(method, path, fields, Some(&token), Some("same-origin"))
            .await
    }

    async fn send_raw(
        &mut self,
        method: reqwest::Method,
        path: &str,
        fields: &[(&str, &str)],
        token: Option<&str>,
        fetch_site: Option<&str>,
    ) -> Page {
        let mut form: Vec<(&str, &str)> = fields.to_vec();
        if let Some(token) = token {
            form.push(("csrf_token", token));
        }
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(&form);
        if let Some(site) = fetch_site {
            request = request.header("sec-fetch-site", site);
        }
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    /// A download: status, headers and the bytes, as a browser saves them.
    pub async fn download(
        &mut self,
        path: &str,
    ) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.bytes().await.unwrap().to_vec())
    }

    /// Posts a `multipart/form-data` form as a browser uploads a file: the text `fields`
    /// with the last page's form token, and `file` as (field, file name, bytes).
    pub async fn post_multipart(
        &mut self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
    ) -> Page {
        const BOUNDARY: &str = "----guidepostTestBoundary7MA4YWxkTrZu0gW";
        let mut body = Vec::new();
        let token = self.csrf.clone();
        for (name, value) in fields.iter().chain([("csrf_token", token.as_str())].iter()) {
            body.extend_from_slice(
                format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                    .as_bytes(),
            );
        }
        let (field, filename, bytes) = file;
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/json\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("sec-fetch-site", "same-origin")
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.get(name).cloned()
    }

    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.insert(name.to_owned(), value.to_owned());
    }

    /// The form token of the last page read.
    pub fn csrf_token(&self) -> String {
        self.csrf.clone()
    }

    pub fn has_session(&self) -> bool {
        self.cookies.contains_key("__Host-gp_dashboard")
    }
}

/// The value of the first hidden `revision` field of a page (the settings form's, or the
/// step form's): the revision the page was read at.
pub fn revision_field(body: &str) -> String {
    let marker = "name=\"revision\" value=\"";
    let start = body.find(marker).expect("a revision field") + marker.len();
    body[start..].split('"').next().unwrap().to_owned()
}

/// Fields kept as owned values, as [`Browser::post`] takes them.
pub fn pairs<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

fn form_token(body: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// Makes `email` a member of the tenant's organization with `role`.
pub async fn add_member(app: &OAuthApp, tenant: &Tenant, email: &str, role: Role) {
    let org: OrgId = tenant.org.clone();
    app.app
        .store
        .create_member(&org, &Email::parse(email).unwrap(), role)
        .await
        .expect("member added");
}

/// Signs `email` in through the real pages, with the code from the outbox.
pub async fn sign_in(app: &OAuthApp, email: &str) -> Browser {
    let mut browser = Browser::new(&app.app.url);
    browser.get("/app/sign-in").await.ok();
    browser
        .post("/app/sign-in", &[("email", email), ("next", "/app/")])
        .await
        .redirected_to("/app/sign-in/code");
    let code = app.code_for(email);
    browser
        .post(
            "/app/sign-in/code",
            &[("email", email), ("code", &code), ("next", "/app/")],
        )
        .await
        .redirected_to("/app/");
    assert!(browser.has_session());
    browser
}

/// A member of the tenant with `role`, signed in.
pub async fn member(app: &OAuthApp, tenant: &Tenant, email: &str, role: Role) -> Browser {
    add_member(app, tenant, email, role).await;
    sign_in(app, email).await
}
