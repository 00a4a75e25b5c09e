//! Who a `client_id` is, once it is known: a client registered at this server (RFC 7591)
//! or one described by its client metadata document (CIMD, fetched by the authorization
//! server). What it may do, where the browser may return to, and how it proves itself.

use guidepost_domain::*;

use super::crypto::constant_time_eq;
use crate::{CoreError, Platform};

/// Registered client ids are short; a longer `client_id` is not looked up.
const REGISTERED_ID_MAX: usize = 64;

/// A client, whichever way it is known.
#[derive(Debug, Clone)]
pub struct Client {
    pub client_id: String,
    pub name: Option<String>,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Set for confidential clients, which must authenticate with their secret.
    pub secret_hash: Option<String>,
}

/// Why an authorization request's redirect URI cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectUriRefusal {
    /// None was named, and the client registered more than one.
    Missing,
    /// Not one the client registered (OAuth 2.1 compares exactly).
    Unregistered,
}

impl Client {
    pub fn may_use_codes(&self) -> bool {
        self.grant_types.iter().any(|g| g == "authorization_code")
    }

    pub(crate) fn may_refresh(&self) -> bool {
        self.grant_types.iter().any(|g| g == "refresh_token")
    }

    /// RFC 6749 §2.3: a confidential client must present its secret; a public client has
    /// none to present.
    pub fn authenticates(&self, secret: Option<&str>) -> bool {
        let Some(expected) = &self.secret_hash else {
            return true;
        };
        let presented = secret.map(hash_secret).unwrap_or_default();
        constant_time_eq(presented.as_bytes(), expected.as_bytes())
    }

    /// The redirect URI of an authorization request: the one it names, if the client
    /// registered it; else the client's only one.
    pub fn redirect_uri(&self, requested: Option<&str>) -> Result<String, RedirectUriRefusal> {
        let uri = match (requested, self.redirect_uris.as_slice()) {
            (Some(uri), _) => uri,
            (None, [only]) => only,
            (None, _) => return Err(RedirectUriRefusal::Missing),
        };
        if !self.redirect_uris.iter().any(|r| r == uri) {
            return Err(RedirectUriRefusal::Unregistered);
        }
        Ok(uri.to_owned())
    }
}

impl From<OAuthClient> for Client {
    fn from(client: OAuthClient) -> Self {
        Self {
            client_id: client.id.to_string(),
            name: client.client_name,
            redirect_uris: client.redirect_uris,
            grant_types: client.grant_types,
            secret_hash: client.secret_hash,
        }
    }
}

/// The client registered at `server` under `client_id`, if any.
pub async fn registered(
    platform: &Platform,
    server: &McpServer,
    client_id: &str,
) -> Result<Option<Client>, CoreError> {
    if client_id.len() > REGISTERED_ID_MAX {
        return Ok(None);
    }
    let stored = platform
        .store
        .get_oauth_client(&server.org_id, &server.id, client_id)
        .await?;
    Ok(stored.map(Client::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(redirect_uris: &[&str], secret: Option<&str>) -> Client {
        Client {
            client_id: "c".into(),
            name: None,
            redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
            grant_types: vec!["authorization_code".into()],
            secret_hash: secret.map(hash_secret),
        }
    }

    #[test]
    fn the_redirect_uri_is_named_exactly_or_is_the_only_one() {
        let one = client(&["https://a.example/cb"], None);
        assert_eq!(one.redirect_uri(None).unwrap(), "https://a.example/cb");
        assert_eq!(
            one.redirect_uri(Some("https://a.example/cb/")),
            Err(RedirectUriRefusal::Unregistered)
        );
        let two = client(&["https://a.example/cb", "http://127.0.0.1/cb"], None);
        assert_eq!(two.redirect_uri(None), Err(RedirectUriRefusal::Missing));
        assert!(two.redirect_uri(Some("http://127.0.0.1/cb")).is_ok());
    }

    #[test]
    fn confidential_clients_present_their_secret() {
        assert!(client(&[], None).authenticates(None));
        let confidential = client(&[], Some("s3cret"));
        assert!(confidential.authenticates(Some("s3cret")));
        assert!(!confidential.authenticates(Some("other")));
        assert!(!confidential.authenticates(None));
        assert!(!confidential.may_refresh() && confidential.may_use_codes());
    }
}
