//! The tests' one client for the management API, and the replies it reads.

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

/// The tests' one client for the management API (and any JSON endpoint): requests to
/// paths under a base URL, with an optional bearer key and JSON body, read into a
/// [`Reply`]. [`TestApp::client`] is the one for the application a test started;
/// `ApiClient::new(url)` is for a guidepost process a test started itself.
#[derive(Clone)]
pub struct ApiClient {
    pub http: reqwest::Client,
    /// What every path is appended to, e.g. `http://127.0.0.1:4000` or `…/api/v1`.
    pub base: String,
}

/// A response: status, headers, and the body parsed as JSON (`Null` when empty, the
/// text as a JSON string when it is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body as received.
    pub text: String,
}

impl ApiClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self::with_http(reqwest::Client::new(), base_url)
    }

    pub fn with_http(http: reqwest::Client, base_url: impl Into<String>) -> Self {
        Self {
            http,
            base: base_url.into(),
        }
    }

    /// A request to `path` under the base URL, with `key` as its bearer token when given,
    /// for a test to add what [`ApiClient::call`] does not send (other headers, a raw
    /// body) before [`ApiClient::send`].
    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Sends a request and reads its reply: the one place a test's API response is read.
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let response = request.send().await.expect("API request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()))
        };
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// `method path` with an optional bearer `key` and JSON `body`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.request(method, path, key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }
}

impl Reply {
    /// Status and body, as most tests read a reply.
    pub fn into_parts(self) -> (StatusCode, Value) {
        (self.status, self.body)
    }

    /// Whether the body was empty or JSON (not text that [`Reply::body`] holds as a string).
    pub fn is_json(&self) -> bool {
        self.text.is_empty() || serde_json::from_str::<serde::de::IgnoredAny>(&self.text).is_ok()
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an RFC 9457 problem document with this status, and returns it.
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status, body: {}",
            self.body
        );
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "body: {}", self.body);
        assert!(
            self.body["type"].is_string() && self.body["title"].is_string(),
            "body: {}",
            self.body
        );
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "body: {}",
            self.body
        );
        &self.body
    }

    /// The `field`s of a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        let errors = self.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("no errors in {}", self.body));
        errors
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    }
}
