//! The organization's own OpenID Connect provider of a server (`custom_oauth`):
//! configured through the API, checked when it is configured (its discovery document must
//! be usable), with the client secret sealed under the platform's master key and never
//! shown again.
//!
//! The rule that keeps `custom_oauth` from failing at sign-in time: a server can be put
//! in `custom_oauth` only once it has a provider that was checked, and, if that provider
//! has a secret, only while the platform has the master key to open it
//! (`servers::update`); the provider cannot be removed while the server uses it.

use crate::{Caller, Permission};
use async_trait::async_trait;
use guidepost_domain::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::hosting::urls::{mcp_url, path_mcp_url};
use crate::secrets::SecretError;
use crate::{CoreError, Platform, PlatformConfig};

/// The path, under a server's issuer, that the provider sends people back to.
pub const CALLBACK_PATH: &str = "/oidc/callback";

const URL_MAX: usize = 2000;
const CLIENT_ID_MAX: usize = 500;
const SECRET_MAX: usize = 2000;

/// Checks that an OpenID Connect provider can sign people in for the platform: its
/// discovery document is reachable (within the platform's rules for outbound requests),
/// names exactly this issuer, supports the authorization code flow and publishes its
/// signing keys. Implemented by the authorization server, which federates to it.
#[async_trait]
pub trait ProviderCheck: Send + Sync {
    async fn check(&self, issuer_url: &str) -> Result<(), ProviderCheckError>;
}

/// Why a provider cannot sign people in, in words for the organization's administrator.
#[derive(Debug, thiserror::Error)]
pub enum ProviderCheckError {
    /// Its discovery document was not read: the outbound fence refused it, or it did not
    /// answer.
    #[error("{0}")]
    Unreachable(String),
    /// It answered, without what sign-in needs.
    #[error("{0}")]
    Unusable(String),
}

/// `PUT /api/v1/servers/{id}/oidc`: the whole configuration (what is left out is removed).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcInput {
    /// The provider's issuer identifier, e.g. `https://login.acme.example`; its discovery
    /// document is read from `{issuer_url}/.well-known/openid-configuration`.
    pub issuer_url: String,
    /// The client registered at the provider for this server.
    pub client_id: String,
    /// The client's secret (stored encrypted, never returned). Leave it out for a public
    /// client; sign-in always uses PKCE.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Accept an email the provider does not say it verified (it sends no
    /// `email_verified`). Off by default: such an email is refused, since whoever
    /// controls an account at the provider could name anybody's address. An email the
    /// provider says it has not verified is always refused.
    #[serde(default)]
    pub accept_unverified_email: bool,
}

/// A server's identity provider as the API shows it: never the secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OidcView {
    pub issuer_url: String,
    pub client_id: String,
    /// Whether a client secret is stored (it is never shown).
    pub client_secret_set: bool,
    pub accept_unverified_email: bool,
    /// The redirect URIs to register for the client at the provider: the server's
    /// virtual host, and the path fallback `/s/{slug}`.
    pub redirect_uris: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a sealed client secret is bound to: a sealed value copied to another server does
/// not open.
pub fn secret_context(server: &ServerId) -> String {
    format!("oidc-client-secret:{server}")
}

/// The callback URLs of a server, by virtual host and by the path fallback.
pub fn redirect_uris(config: &PlatformConfig, server: &McpServer) -> Vec<String> {
    [mcp_url(config, server), path_mcp_url(config, server)]
        .iter()
        .map(|mcp| {
            let issuer = mcp.strip_suffix("/mcp").unwrap_or(mcp);
            format!("{issuer}{CALLBACK_PATH}")
        })
        .collect()
}

fn view(config: &PlatformConfig, server: &McpServer, provider: OidcProvider) -> OidcView {
    OidcView {
        issuer_url: provider.issuer_url,
        client_id: provider.client_id,
        client_secret_set: provider.client_secret_sealed.is_some(),
        accept_unverified_email: provider.accept_unverified_email,
        redirect_uris: redirect_uris(config, server),
        created_at: provider.created_at,
        updated_at: provider.updated_at,
    }
}

/// The issuer as the provider must state it: an absolute http(s) URL without query,
/// fragment or user information; a trailing `/` is kept (issuers compare exactly).
fn checked_issuer(text: &str) -> Result<String, ValidationError> {
    let invalid = |why: &str| ValidationError::new("issuer_url", why.to_owned());
    let text = text.trim();
    validate_text("issuer_url", text, URL_MAX)?;
    let url = url::Url::parse(text).map_err(|_| invalid("must be an absolute URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(invalid("must be an https URL"));
    }
    if url.query().is_some()
        || url.fragment().is_some()
        || crate::hosting::urls::carries_credentials(&url)
    {
        return Err(invalid(
            "must have no query, fragment or user information (OpenID Connect Discovery §2)",
        ));
    }
    Ok(text.to_owned())
}

fn checked_printable(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<String, ValidationError> {
    validate_text(field, value, max)?;
    if value.chars().any(char::is_control) || value.trim() != value {
        return Err(ValidationError::new(
            field,
            "must not contain control characters or surrounding spaces",
        ));
    }
    Ok(value.to_owned())
}

/// What `put` does when the input has no `client_secret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingSecret {
    /// The API's `PUT` replaces the whole configuration: no secret, a public client.
    Remove,
    /// The dashboard's form, whose secret field is blank unless a new one is typed:
    /// the stored secret stays, for the issuer and client it was given for only.
    Keep,
}

/// Checks and stores a server's provider, sealing the secret; the whole configuration
/// (`PUT /api/v1/servers/{id}/oidc`).
pub async fn put(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
    input: OidcInput,
) -> Result<OidcView, CoreError> {
    put_with(platform, caller, id, input, MissingSecret::Remove).await
}

/// [`put`], with a missing secret treated as `missing` says.
pub async fn put_with(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
    input: OidcInput,
    missing: MissingSecret,
) -> Result<OidcView, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let server = platform.store.get_server(org, id).await?;
    let issuer_url = checked_issuer(&input.issuer_url)?;
    let client_id = checked_printable("client_id", &input.client_id, CLIENT_ID_MAX)?;
    let secret = input
        .client_secret
        .map(|s| checked_printable("client_secret", &s, SECRET_MAX))
        .transpose()?;
    let client_secret_sealed = match (secret, &platform.config.master_key) {
        // Sealed for this server (`secret_context`), so it stays valid as it is.
        (None, _) if missing == MissingSecret::Keep => {
            let stored = platform.store.get_oidc_provider(org, id).await?;
            kept_secret(stored, &issuer_url, &client_id)?
        }
        (None, _) => None,
        (Some(secret), Some(key)) => Some(key.seal(&secret, &secret_context(id))),
        (Some(_), None) => {
            return Err(ValidationError::new(
                "client_secret",
                "cannot be stored: this platform runs without a master key to encrypt secrets \
                 (start it with --master-key or GUIDEPOST_MASTER_KEY)",
            )
            .into());
        }
    };
    platform
        .identity_providers
        .check(&issuer_url)
        .await
        .map_err(|why| {
            ValidationError::new(
                "issuer_url",
                format!("the provider cannot be used for sign-in: {why}"),
            )
        })?;
    let new = NewOidcProvider {
        issuer_url,
        client_id,
        client_secret_sealed,
        accept_unverified_email: input.accept_unverified_email,
    };
    let stored = platform.store.put_oidc_provider(org, id, &new).await?;
    let detail = serde_json::json!({"issuer_url": stored.issuer_url});
    let action = AuditAction::ServerIdentityProviderSet;
    crate::audit::record_server(platform, caller, action, &server, detail).await?;
    Ok(view(&platform.config, &server, stored))
}

/// The stored secret, kept for the issuer and client it was given for. A form that
/// changes either without typing the secret again is refused: kept, the secret would go
/// to the new issuer's token endpoint, and whoever may edit the server (not shown the
/// secret) could point it at a server of theirs and read it there.
fn kept_secret(
    stored: Option<OidcProvider>,
    issuer_url: &str,
    client_id: &str,
) -> Result<Option<String>, ValidationError> {
    let Some(stored) = stored else {
        return Ok(None);
    };
    let same_client = stored.issuer_url == issuer_url && stored.client_id == client_id;
    match stored.client_secret_sealed {
        Some(_) if !same_client => Err(ValidationError::new(
            "client_secret",
            "type the client secret again: the issuer or the client changed, and the stored \
             secret is sent only to the provider it was given for",
        )),
        sealed => Ok(sealed),
    }
}

/// What the authorization server needs to send people to a server's provider: its
/// client, with the secret opened.
#[derive(Debug, Clone)]
pub struct SignInClient {
    pub issuer_url: String,
    pub client_id: String,
    /// `None` for a public client (PKCE only).
    pub client_secret: Option<String>,
    pub accept_unverified_email: bool,
}

/// The server's provider, ready for a sign-in; `None` when it has none or its secret
/// cannot be opened (logged: `readiness` keeps a server from `custom_oauth` in either
/// case, so it means the configuration changed underneath).
pub async fn sign_in_client(
    platform: &Platform,
    server: &McpServer,
) -> Result<Option<SignInClient>, CoreError> {
    let found = platform
        .store
        .get_oidc_provider(&server.org_id, &server.id)
        .await?;
    let Some(provider) = found else {
        tracing::error!(server = %server.id, "a custom_oauth server has no identity provider");
        return Ok(None);
    };
    match opened_secret(&platform.config, &server.id, &provider) {
        Ok(client_secret) => Ok(Some(SignInClient {
            issuer_url: provider.issuer_url,
            client_id: provider.client_id,
            client_secret,
            accept_unverified_email: provider.accept_unverified_email,
        })),
        Err(why) => {
            tracing::error!(server = %server.id, %why, "an identity provider's client secret cannot be read");
            Ok(None)
        }
    }
}

/// Why a provider's client secret cannot be opened.
#[derive(Debug, thiserror::Error)]
enum SecretUnopened {
    #[error("this platform runs without its master key (--master-key or GUIDEPOST_MASTER_KEY)")]
    NoMasterKey,
    #[error("{0}; PUT it again")]
    Sealed(SecretError),
}

/// The provider's client secret, opened with the master key.
fn opened_secret(
    config: &PlatformConfig,
    id: &ServerId,
    provider: &OidcProvider,
) -> Result<Option<String>, SecretUnopened> {
    let Some(sealed) = &provider.client_secret_sealed else {
        return Ok(None);
    };
    let Some(key) = &config.master_key else {
        return Err(SecretUnopened::NoMasterKey);
    };
    key.open(sealed, &secret_context(id))
        .map(Some)
        .map_err(SecretUnopened::Sealed)
}

pub async fn get(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
) -> Result<OidcView, CoreError> {
    let server = platform.store.get_server(caller.org(), id).await?;
    provider_of(platform, &server)
        .await?
        .ok_or(CoreError::NotFound)
}

/// The provider of a server already read within the caller's organization; `None` when
/// it has none.
pub async fn provider_of(
    platform: &Platform,
    server: &McpServer,
) -> Result<Option<OidcView>, CoreError> {
    let provider = platform
        .store
        .get_oidc_provider(&server.org_id, &server.id)
        .await?;
    Ok(provider.map(|provider| view(&platform.config, server, provider)))
}

pub async fn delete(platform: &Platform, caller: &Caller, id: &ServerId) -> Result<(), CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let server = platform.store.get_server(org, id).await?;
    platform.store.delete_oidc_provider(org, id).await?;
    let action = AuditAction::ServerIdentityProviderRemoved;
    crate::audit::record_server(platform, caller, action, &server, serde_json::Value::Null).await
}

/// Why a server cannot sign people in through its provider right now, if it cannot: the
/// check `servers::update` runs before a server is put in `custom_oauth`.
pub(crate) async fn readiness(
    platform: &Platform,
    org: &OrgId,
    id: &ServerId,
) -> Result<Option<String>, CoreError> {
    let Some(provider) = platform.store.get_oidc_provider(org, id).await? else {
        return Ok(Some(format!(
            "custom_oauth needs the organization's OpenID Connect provider: set it first \
             (the server's page in the dashboard, under Identity provider, or \
             PUT /api/v1/servers/{id}/oidc with issuer_url, client_id and client_secret)"
        )));
    };
    Ok(opened_secret(&platform.config, id, &provider)
        .err()
        .map(|why| format!("the provider's client secret cannot be read: {why}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_plain_absolute_urls() {
        assert_eq!(
            checked_issuer(" https://login.acme.example/realms/x ").unwrap(),
            "https://login.acme.example/realms/x"
        );
        for bad in [
            "login.acme.example",
            "ftp://x.example",
            "https://x.example/?a=1",
            "https://x.example/#f",
            "https://u:p@x.example",
            "https://:p@x.example",
        ] {
            assert!(checked_issuer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_and_ids_are_printable() {
        assert!(checked_printable("client_id", "abc-123", 10).is_ok());
        assert!(checked_printable("client_id", " abc", 10).is_err());
        assert!(checked_printable("client_id", "a\nb", 10).is_err());
        assert!(checked_printable("client_id", "", 10).is_err());
    }
}
