//! Guidepost's OAuth 2.1 authorization server, one per hosted server, and the
//! access-token check that the MCP endpoint runs as the resource server.
//!
//! **Why hand-rolled.** No Rust crate covers what MCP clients need from an authorization
//! server: `oxide-auth` is inactive and has neither dynamic registration (RFC 7591) nor
//! server metadata (RFC 8414) nor protected resource metadata (RFC 9728); nothing
//! implements Client ID Metadata Documents, RFC 9207 `iss`, or RFC 8707 audiences; and
//! `oauth2` / `openidconnect` are clients (we use `openidconnect` as one, towards an
//! organization's own provider). What we need is a small set of precise rules, written
//! down here once and tested end to end with the official MCP clients.
//!
//! **Per-server issuer.** A server's issuer is its origin on its virtual host
//! (`http://acme.localhost:8080`), or `{origin}/s/{slug}` when it is reached by the path
//! fallback; every endpoint lives under the issuer (`address.rs`). Only servers whose
//! `auth_mode` requires a token are served; anything else is 404.
//!
//! **Protocol here, rules in core.** This crate speaks HTTP: it parses requests, fetches
//! client metadata documents, talks to organizations' providers, and renders pages,
//! redirects and OAuth errors. What is allowed (registration, the login state machine,
//! one-time codes, consent, what makes a code or token good, revocation, the resource
//! server's check) is decided by `guidepost_core::accounts::authorization`, the only way to the
//! records.
//!
//! **Modules.** `metadata` (RFC 9728 and RFC 8414 / OpenID discovery documents),
//! `registration` (RFC 7591), `cimd` (fetching client metadata documents behind an SSRF
//! guard), `clients` (who a `client_id` is), `authorize` (the authorization request),
//! `back` (redirects to the client), `browser` (the login session's cookie, CSRF token and
//! shared pages), `login` and `pages` (the sign-in pages: email, one-time code, consent),
//! `email` (SMTP or an outbox directory), `federation` and `upstream` (sign-in at the
//! organization's own OpenID Connect provider), `token` (code and refresh grants),
//! `revoke` (RFC 7009), `verify` (the resource server's check and its `WWW-Authenticate`
//! challenges).
//!
//! **The other way round.** `connect_client` is the platform as an OAuth client of
//! upstream MCP servers' own authorization servers: core's
//! `upstreams::connections::Authorizer`, exported as [`UpstreamAuthorizer`].
//!
//! **Two ways to sign in.** A login session is a small state machine (`LoginStage`). On
//! `platform_oauth` servers the email one-time code reaches the `consent` stage; on
//! `custom_oauth` servers the organization's provider does (`upstream` stage, then its
//! verified email), and the email forms are refused. Either way the client gets the
//! platform's own tokens: the provider's never leave the callback.
//!
//! Architecture invariant: tokens, codes, client secrets, login cookies and one-time codes
//! are random, shown once, and stored only as SHA-256 hashes.

mod address;
mod approval_pages;
mod authorize;
mod back;
mod browser;
mod cimd;
mod clients;
mod connect_client;
mod connect_pages;
mod connections_page;
mod email;
mod error;
mod federation;
mod login;
mod login_cookie;
mod metadata;
mod pages;
mod registration;
mod revoke;
mod tenant;
mod throttle;
mod token;
mod upstream;
mod verify;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{MethodRouter, get, post};
use guidepost_core::Platform;

pub use address::Address;
pub use connect_client::UpstreamAuthorizer;
pub use connect_pages::router as connect_router;
pub use email::Mailer;
pub use upstream::IdentityProviders;
pub use verify::{MCP_SCOPE, TokenRefusal, VerifiedToken, challenge, verify_access_token};

/// Settings of the authorization server.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// Lifetime of access tokens (one hour by default).
    pub access_token_ttl: Duration,
    /// Lifetime of refresh tokens; each use replaces the token with a new one.
    pub refresh_token_ttl: Duration,
    /// How long after a refresh the same refresh token gets the same successors (two
    /// refreshes racing); later, presenting it again revokes the family.
    pub refresh_grace: Duration,
    /// Fetch client metadata documents from private, loopback and link-local addresses,
    /// and over plain HTTP there (development and tests only).
    pub cimd_allow_private: bool,
    /// `smtp://…` or `smtps://…` (lettre's URL form); without it mail goes to the outbox.
    pub smtp_url: Option<String>,
    /// The sender of sign-in mail.
    pub mail_from: String,
    /// Where mail is written as `.eml` files when no SMTP server is configured.
    pub mail_outbox: PathBuf,
    /// Reach organizations' identity providers on private and loopback addresses, and
    /// over plain HTTP (development and tests only).
    pub oidc_allow_private: bool,
    /// Requests per minute per client IP to the sign-in, registration, token and
    /// revocation endpoints (bursts of a third of it); 0 turns the limit off.
    pub rate_limit_per_ip: u32,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(3600),
            refresh_token_ttl: Duration::from_secs(30 * 24 * 3600),
            refresh_grace: Duration::from_secs(5),
            cimd_allow_private: false,
            smtp_url: None,
            mail_from: "Guidepost <no-reply@localhost>".into(),
            mail_outbox: PathBuf::from("mail-outbox"),
            oidc_allow_private: false,
            rate_limit_per_ip: 300,
        }
    }
}

/// Why the authorization server could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("--smtp-url: {0}")]
    Smtp(String),
    #[error("--mail-from: {0}")]
    From(String),
}

/// A JSON endpoint that browser-based clients may call from any origin.
fn cross_origin(route: MethodRouter<Arc<AuthState>>) -> MethodRouter<Arc<AuthState>> {
    route
        .options(metadata::preflight)
        .layer(axum::middleware::map_response(metadata::allow_any_origin))
}

/// What every handler shares.
pub(crate) struct AuthState {
    pub platform: Platform,
    pub options: AuthOptions,
    pub mailer: email::Mailer,
    pub cimd: cimd::Fetcher,
    pub providers: upstream::IdentityProviders,
    /// `None` when `AuthOptions::rate_limit_per_ip` is 0.
    pub ip_limiter: Option<guidepost_core::rate_limit::KeyedLimiter>,
}

pub(crate) type State = axum::extract::State<Arc<AuthState>>;

/// Largest body of a registration, token or form request.
const BODY_LIMIT: usize = 16 * 1024;

/// The authorization server's routes, for servers reached by host and by the path
/// fallback (`/s/{slug}/…`), and the well-known documents at the root.
pub fn router(platform: Platform, options: AuthOptions) -> Result<Router, SetupError> {
    let state = Arc::new(AuthState {
        mailer: email::Mailer::new(&options)?,
        cimd: cimd::Fetcher::new(options.cimd_allow_private),
        providers: upstream::IdentityProviders::new(options.oidc_allow_private),
        ip_limiter: guidepost_core::rate_limit::KeyedLimiter::per_minute(
            options.rate_limit_per_ip,
            options.rate_limit_per_ip / 3,
        ),
        platform,
        options,
    });
    let issuer_routes = Router::new()
        .route("/authorize", get(authorize::authorize))
        .route("/token", cross_origin(post(token::token)))
        .route("/register", cross_origin(post(registration::register)))
        .route("/revoke", cross_origin(post(revoke::revoke)))
        .route("/login/{id}", get(login::page))
        .route("/login/{id}/email", post(login::submit_email))
        .route("/login/{id}/code", post(login::submit_code))
        .route("/login/{id}/consent", post(login::submit_consent))
        .route(
            guidepost_core::accounts::oidc::CALLBACK_PATH,
            get(federation::callback),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            throttle::limit_by_ip,
        ))
        .route(
            "/.well-known/oauth-authorization-server",
            cross_origin(get(metadata::authorization_server)),
        )
        .route(
            "/.well-known/openid-configuration",
            cross_origin(get(metadata::openid_configuration)),
        )
        .route("/jwks", cross_origin(get(metadata::key_set)));
    let well_known = Router::new()
        .route(
            "/.well-known/oauth-protected-resource",
            cross_origin(get(metadata::protected_resource)),
        )
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            cross_origin(get(metadata::protected_resource)),
        )
        .route(
            "/.well-known/oauth-protected-resource/s/{slug}/mcp",
            cross_origin(get(metadata::protected_resource)),
        )
        .route(
            "/.well-known/oauth-authorization-server/s/{slug}",
            cross_origin(get(metadata::authorization_server)),
        )
        .route(
            "/.well-known/openid-configuration/s/{slug}",
            cross_origin(get(metadata::openid_configuration)),
        );
    Ok(Router::new()
        .merge(issuer_routes.clone())
        .nest("/s/{slug}", issuer_routes)
        .merge(well_known)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state))
}
