//! Answering the client and naming the server: the way back to the client's redirect
//! URI (with `state` and RFC 9207 `iss`), and the server's name as pages show it.

use axum::response::{IntoResponse, Redirect, Response};
use http::{HeaderValue, StatusCode, header};
use url::Url;

use crate::tenant::Tenant;

pub(crate) fn server_name(tenant: &Tenant) -> String {
    let server = &tenant.server;
    server
        .product_name
        .clone()
        .unwrap_or_else(|| server.name.clone())
}

/// The way back to the client: its redirect URI with the response parameters, `state`
/// echoed and RFC 9207 `iss`.
pub(crate) struct Back<'a> {
    pub redirect_uri: &'a str,
    pub state: Option<&'a str>,
    pub issuer: String,
}

impl Back<'_> {
    pub fn error(&self, error: &str, description: &str) -> Response {
        self.send(&[("error", error), ("error_description", description)])
    }

    pub fn code(&self, code: &str) -> Response {
        self.send(&[("code", code)])
    }

    fn send(&self, pairs: &[(&str, &str)]) -> Response {
        let Ok(mut url) = Url::parse(self.redirect_uri) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = self.state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", &self.issuer);
        }
        let mut response = Redirect::to(url.as_str()).into_response();
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
