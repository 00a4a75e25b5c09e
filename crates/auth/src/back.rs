//! The way back to the client once its redirect URI is known to be good: the redirect URI
//! with the response parameters, `state` echoed and RFC 9207 `iss`.
//!
//! Every client here registered itself (RFC 7591) or describes itself (CIMD), so none is
//! trusted to receive a browser it did not earn: an error found in the authorization
//! request itself is shown on a page with a link back, and the browser goes there only if
//! the person follows it (RFC 9700 §4.11.2, against open redirects). Once the person has
//! acted (signed in, approved or denied), the answer is a redirect.

use axum::response::{IntoResponse, Response};
use guidepost_domain::AuthorizationRequest;
use http::StatusCode;
use url::Url;

use crate::pages::{self, uncached_redirect};
use crate::tenant::Tenant;

pub(crate) struct Back<'a> {
    pub redirect_uri: &'a str,
    pub state: Option<&'a str>,
    pub issuer: String,
}

impl<'a> Back<'a> {
    /// Back to the client of a checked authorization request.
    pub fn to(request: &'a AuthorizationRequest, tenant: &Tenant) -> Self {
        Self {
            redirect_uri: &request.redirect_uri,
            state: request.state.as_deref(),
            issuer: tenant.address.issuer(),
        }
    }

    pub fn error(&self, error: &str, description: &str) -> Response {
        self.send(&[("error", error), ("error_description", description)])
    }

    /// An error before the person acted: a page that says what is wrong, with a link that
    /// takes the error back to the app.
    pub fn error_page(
        &self,
        status: StatusCode,
        server_name: &str,
        error: &str,
        description: &str,
    ) -> Response {
        let Some(url) = self.url(&[("error", error), ("error_description", description)]) else {
            return StatusCode::BAD_REQUEST.into_response();
        };
        let page = pages::return_page(
            server_name,
            &format!("The sign-in cannot start: {description}."),
            &url,
            &pages::redirect_target(self.redirect_uri),
        );
        pages::html(status, page)
    }

    pub fn code(&self, code: &str) -> Response {
        self.send(&[("code", code)])
    }

    fn send(&self, pairs: &[(&str, &str)]) -> Response {
        match self.url(pairs) {
            Some(url) => uncached_redirect(&url),
            None => StatusCode::BAD_REQUEST.into_response(),
        }
    }

    fn url(&self, pairs: &[(&str, &str)]) -> Option<String> {
        let mut url = Url::parse(self.redirect_uri).ok()?;
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
        Some(url.into())
    }
}
