//! The way back to the client once its redirect URI is known to be good: the redirect URI
//! with the response parameters, `state` echoed and RFC 9207 `iss`.

use axum::response::{IntoResponse, Response};
use guidepost_domain::AuthorizationRequest;
use http::StatusCode;
use url::Url;

use crate::pages::uncached_redirect;
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
        uncached_redirect(url.as_str())
    }
}
