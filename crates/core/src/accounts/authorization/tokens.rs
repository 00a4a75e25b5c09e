//! The token endpoint's rules (OAuth 2.1 §3.2) and revocation (RFC 7009). An
//! authorization code is good once, for two minutes, for the client and server it was
//! issued to, with the redirect URI and PKCE verifier of its request; a second use
//! revokes the grant and everything issued from the code. A refresh token rotates on
//! every use; presenting a rotated one revokes its whole family, except within a short
//! grace, where two refreshes racing with the same token both get the same successors.
//! Tokens are opaque random strings, shown once and stored as hashes.
//!
//! Only hashes are stored, so a successor cannot be read back for the second of two
//! racing refreshes. Instead a refresh token's successors are derived from it and a
//! random nonce kept on the spent token: the presenter of the old token (and nobody with
//! only the database, or only the old token) can be handed the same successors again.

use std::time::Duration;

use guidepost_domain::*;

use super::clients::Client;
use super::crypto::pkce_s256_matches;
use super::scopes;
use crate::{CoreError, Platform};

/// How long tokens live (the platform's settings).
#[derive(Debug, Clone, Copy)]
pub struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
    /// How long a rotated refresh token still gets its successors back.
    pub refresh_grace: Duration,
}

/// Tokens just issued, in plain text: the one time they are shown.
#[derive(Debug)]
pub struct Issued {
    pub access_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Only for clients that registered the `refresh_token` grant.
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// Why a grant was refused; the text is the `error_description`. Every refusal is
/// `invalid_grant` but `OtherResource` (`invalid_target`) and `ScopeWidened`
/// (`invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    #[error("unknown authorization code")]
    UnknownCode,
    #[error("the authorization code was already used; every token issued from it is now revoked")]
    CodeReplayed,
    #[error("the authorization code was issued by another server")]
    CodeOfAnotherServer,
    #[error("the authorization code was issued to another client")]
    CodeOfAnotherClient,
    #[error("the authorization code expired")]
    CodeExpired,
    #[error("redirect_uri does not match the authorization request")]
    RedirectUriMismatch,
    #[error("code_verifier does not match the code_challenge")]
    VerifierMismatch,
    #[error("the authorization was revoked")]
    GrantRevoked,
    #[error("unknown refresh token")]
    UnknownRefreshToken,
    #[error("the refresh token was issued to another client or server")]
    RefreshTokenOfAnother,
    #[error("the refresh token was already used; every token of this authorization is now revoked")]
    RefreshReused,
    #[error("the refresh token expired or was revoked")]
    RefreshTokenDead,
    /// RFC 8707 §2.2: a `resource` at the token endpoint must be the one granted.
    #[error("resource must be {0}, the resource of this authorization")]
    OtherResource(String),
    #[error("a refresh cannot add scopes that were not granted")]
    ScopeWidened,
}

/// An authorization code grant request, parsed.
#[derive(Debug)]
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub verifier: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub resource: Option<&'a str>,
}

/// A refresh token grant request, parsed.
#[derive(Debug)]
pub struct Refresh<'a> {
    pub refresh_token: &'a str,
    pub scope: Option<&'a str>,
    pub resource: Option<&'a str>,
}

/// Spends an authorization code and issues tokens for it.
pub async fn exchange_code(
    platform: &Platform,
    server: &McpServer,
    client: &Client,
    exchange: &CodeExchange<'_>,
    lifetimes: Lifetimes,
) -> Result<Result<Issued, GrantRefusal>, CoreError> {
    let now = Timestamp::now();
    let code_hash = hash_secret(exchange.code);
    // Checked before it is spent: whoever holds a code but is not its client (or lacks
    // the PKCE verifier) cannot burn it, nor revoke what it granted.
    let Some(presented) = platform.store.find_authorization_code(&code_hash).await? else {
        return Ok(Err(GrantRefusal::UnknownCode));
    };
    if let Err(refusal) = redeemable(&presented, server, client, exchange, now) {
        return Ok(Err(refusal));
    }
    let redeemed = platform
        .store
        .consume_authorization_code(&code_hash, now)
        .await?;
    let code = match redeemed {
        CodeRedemption::Fresh(code) => code,
        CodeRedemption::Replayed => {
            metrics::counter!("guidepost_oauth_code_replays_total").increment(1);
            tracing::warn!(client = %client.client_id, "an authorization code was used twice; its tokens are revoked");
            return Ok(Err(GrantRefusal::CodeReplayed));
        }
        CodeRedemption::Unknown => return Ok(Err(GrantRefusal::UnknownCode)),
    };
    let grant = &code.grant;
    let (tokens, issued) = new_tokens(client, &grant.scope, now, lifetimes, &random_token);
    let stored = platform
        .store
        .issue_tokens(&grant.org_id, &grant.id, &tokens, now)
        .await?;
    if !stored {
        return Ok(Err(GrantRefusal::GrantRevoked));
    }
    metrics::counter!("guidepost_oauth_tokens_issued_total", "grant" => "authorization_code")
        .increment(1);
    Ok(Ok(issued))
}

/// Spends an authorization code the platform itself asked for, to learn who signed in
/// (the connect pages' identity check): the person, and no tokens; the grant is revoked
/// at once, since nothing will use it.
pub(crate) async fn identify_by_code(
    platform: &Platform,
    server: &McpServer,
    client: &Client,
    exchange: &CodeExchange<'_>,
) -> Result<Result<EndUserId, GrantRefusal>, CoreError> {
    let now = Timestamp::now();
    let code_hash = hash_secret(exchange.code);
    let Some(presented) = platform.store.find_authorization_code(&code_hash).await? else {
        return Ok(Err(GrantRefusal::UnknownCode));
    };
    if let Err(refusal) = redeemable(&presented, server, client, exchange, now) {
        return Ok(Err(refusal));
    }
    let code = match platform
        .store
        .consume_authorization_code(&code_hash, now)
        .await?
    {
        CodeRedemption::Fresh(code) => code,
        CodeRedemption::Replayed => return Ok(Err(GrantRefusal::CodeReplayed)),
        CodeRedemption::Unknown => return Ok(Err(GrantRefusal::UnknownCode)),
    };
    let grant = &code.grant;
    platform
        .store
        .revoke_grant(&grant.org_id, &grant.id, now)
        .await?;
    Ok(Ok(grant.end_user_id.clone()))
}

/// What makes a spent code good for tokens.
fn redeemable(
    code: &AuthorizationCode,
    server: &McpServer,
    client: &Client,
    exchange: &CodeExchange<'_>,
    now: Timestamp,
) -> Result<(), GrantRefusal> {
    let grant = &code.grant;
    if grant.server_id != server.id || grant.org_id != server.org_id {
        return Err(GrantRefusal::CodeOfAnotherServer);
    }
    if grant.client_id != client.client_id {
        return Err(GrantRefusal::CodeOfAnotherClient);
    }
    // The redirect URI may be left out only where the client has no other.
    match exchange.redirect_uri {
        Some(uri) if uri == code.redirect_uri => {}
        None if client.redirect_uris.len() == 1 => {}
        _ => return Err(GrantRefusal::RedirectUriMismatch),
    }
    if !pkce_s256_matches(exchange.verifier, &code.code_challenge) {
        return Err(GrantRefusal::VerifierMismatch);
    }
    same_resource(exchange.resource, &grant.resource)?;
    // Last: a spent code presented again by its own client is a replay, answered by
    // revoking what it granted, however late it comes.
    if code.expires_at <= now && code.used_at.is_none() {
        return Err(GrantRefusal::CodeExpired);
    }
    Ok(())
}

/// Spends a refresh token and issues its successors.
pub async fn refresh(
    platform: &Platform,
    server: &McpServer,
    client: &Client,
    refresh: &Refresh<'_>,
    lifetimes: Lifetimes,
) -> Result<Result<Issued, GrantRefusal>, CoreError> {
    let hash = hash_secret(refresh.refresh_token);
    let found = platform.store.find_token(&hash).await?;
    let Some(record) = found.filter(|r| r.kind == TokenKind::Refresh) else {
        return Ok(Err(GrantRefusal::UnknownRefreshToken));
    };
    let grant = &record.grant;
    if let Err(refusal) = refreshable(grant, server, client, refresh) {
        return Ok(Err(refusal));
    }
    let now = Timestamp::now();
    let nonce = random_token("");
    let mint = |prefix: &str| successor_token(prefix, refresh.refresh_token, &nonce);
    let (tokens, issued) = new_tokens(client, &grant.scope, now, lifetimes, &mint);
    let grace = lifetimes.refresh_grace.as_micros() as i64;
    let rotation = RefreshRotation {
        token_hash: &hash,
        successor_nonce: &nonce,
        successors: &tokens,
        now,
        grace_since: Timestamp::from_micros(now.micros() - grace),
    };
    let rotation = platform.store.rotate_refresh_token(&rotation).await?;
    Ok(match rotation {
        Rotation::Rotated => {
            metrics::counter!("guidepost_oauth_tokens_issued_total", "grant" => "refresh_token")
                .increment(1);
            Ok(issued)
        }
        Rotation::Repeated {
            successor_nonce,
            rotated_at,
        } => {
            metrics::counter!("guidepost_oauth_refresh_repeats_total").increment(1);
            let mint =
                |prefix: &str| successor_token(prefix, refresh.refresh_token, &successor_nonce);
            let (_, mut issued) = new_tokens(client, &grant.scope, rotated_at, lifetimes, &mint);
            let elapsed = (now.micros() - rotated_at.micros()).max(0) / 1_000_000;
            issued.expires_in = (issued.expires_in - elapsed).max(1);
            Ok(issued)
        }
        Rotation::Reused => {
            metrics::counter!("guidepost_oauth_refresh_reuse_total").increment(1);
            tracing::warn!(client = %client.client_id, grant = %grant.id, "a rotated refresh token was presented again; the family is revoked");
            Err(GrantRefusal::RefreshReused)
        }
        Rotation::Invalid => Err(GrantRefusal::RefreshTokenDead),
    })
}

/// A successor of the refresh token `presented`: only who holds it and the nonce kept on
/// it after its rotation can derive it again.
fn successor_token(prefix: &str, presented: &str, nonce: &str) -> String {
    let digest = hash_secret(&format!(
        "guidepost-refresh-successor:{prefix}:{nonce}:{presented}"
    ));
    format!("{prefix}{}", &digest[..48])
}

/// What lets a refresh token of `grant` be used by this request.
fn refreshable(
    grant: &Grant,
    server: &McpServer,
    client: &Client,
    refresh: &Refresh<'_>,
) -> Result<(), GrantRefusal> {
    if grant.server_id != server.id || grant.client_id != client.client_id {
        return Err(GrantRefusal::RefreshTokenOfAnother);
    }
    same_resource(refresh.resource, &grant.resource)?;
    match refresh.scope {
        Some(asked) if !scopes::within(&grant.scope, asked) => Err(GrantRefusal::ScopeWidened),
        _ => Ok(()),
    }
}

fn same_resource(asked: Option<&str>, granted: &str) -> Result<(), GrantRefusal> {
    match asked {
        Some(resource) if resource != granted => {
            Err(GrantRefusal::OtherResource(granted.to_owned()))
        }
        _ => Ok(()),
    }
}

/// A new access token, and a refresh token when the client may refresh: what to store
/// (hashes) and what to show (the tokens).
fn new_tokens(
    client: &Client,
    scope: &str,
    now: Timestamp,
    lifetimes: Lifetimes,
    mint: &dyn Fn(&str) -> String,
) -> (Vec<NewToken>, Issued) {
    let access_token = mint("gpa_");
    let expires_in = lifetimes.access.as_secs() as i64;
    let mut stored = vec![NewToken {
        hash: hash_secret(&access_token),
        kind: TokenKind::Access,
        expires_at: now.plus_seconds(expires_in),
    }];
    let refresh_token = client.may_refresh().then(|| mint("gpr_"));
    if let Some(refresh) = &refresh_token {
        stored.push(NewToken {
            hash: hash_secret(refresh),
            kind: TokenKind::Refresh,
            expires_at: now.plus_seconds(lifetimes.refresh.as_secs() as i64),
        });
    }
    let issued = Issued {
        access_token,
        expires_in,
        refresh_token,
        scope: scope.to_owned(),
    };
    (stored, issued)
}

/// RFC 7009: revokes what `token` stands for if `client` holds it at `server` (a
/// refresh token: its whole grant; an access token: itself). Anything else changes
/// nothing and says nothing, so that nobody learns about other clients' tokens.
pub async fn revoke(
    platform: &Platform,
    server: &McpServer,
    client: &Client,
    token: &str,
) -> Result<(), CoreError> {
    let hash = hash_secret(token);
    let Some(record) = platform.store.find_token(&hash).await? else {
        return Ok(());
    };
    let grant = &record.grant;
    if grant.client_id != client.client_id || grant.server_id != server.id {
        return Ok(());
    }
    let now = Timestamp::now();
    let store = &platform.store;
    match record.kind {
        TokenKind::Refresh => store.revoke_grant(&grant.org_id, &grant.id, now).await?,
        TokenKind::Access => store.revoke_token(&grant.org_id, &hash, now).await?,
    }
    metrics::counter!("guidepost_oauth_revocations_total").increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn server() -> McpServer {
        let now = Timestamp::now();
        McpServer {
            id: Id::from_trusted("ms_1".into()),
            org_id: Id::from_trusted("org_1".into()),
            kind: ServerKind::Standard,
            name: "Acme".into(),
            slug: Slug::parse("acme").unwrap(),
            custom_domain: None,
            pending_domain: None,
            auth_mode: AuthMode::PlatformOauth,
            walkthrough_tools_enabled: true,
            support_tool_enabled: true,
            feedback_tool_enabled: false,
            product_name: None,
            instructions: None,
            allowed_origins: vec![],
            disabled_tools: vec![],
            created_at: now,
            updated_at: now,
        }
    }

    fn client(redirect_uris: &[&str]) -> Client {
        Client {
            client_id: "cli_1".into(),
            name: None,
            redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            secret_hash: None,
        }
    }

    fn grant(server: &McpServer) -> Grant {
        Grant {
            id: Id::from_trusted("gr_1".into()),
            org_id: server.org_id.clone(),
            server_id: server.id.clone(),
            client_id: "cli_1".into(),
            end_user_id: Id::from_trusted("eu_1".into()),
            scope: "mcp offline_access".into(),
            resource: "http://acme.localhost/mcp".into(),
            sign_in: SignInFacts::default(),
            created_at: Timestamp::now(),
            revoked_at: None,
        }
    }

    fn code(server: &McpServer) -> AuthorizationCode {
        AuthorizationCode {
            grant: grant(server),
            redirect_uri: "http://127.0.0.1:9/cb".into(),
            code_challenge: CHALLENGE.into(),
            expires_at: Timestamp::now().plus_seconds(60),
            used_at: None,
        }
    }

    fn exchange<'a>(verifier: &'a str, redirect_uri: Option<&'a str>) -> CodeExchange<'a> {
        CodeExchange {
            code: "gpc_x",
            verifier,
            redirect_uri,
            resource: None,
        }
    }

    #[test]
    fn a_code_is_redeemable_only_as_it_was_issued() {
        let server = server();
        let code = code(&server);
        let now = Timestamp::now();
        let one_uri = client(&["http://127.0.0.1:9/cb"]);
        let good = exchange(VERIFIER, Some("http://127.0.0.1:9/cb"));
        assert_eq!(redeemable(&code, &server, &one_uri, &good, now), Ok(()));
        // The redirect URI may be left out only where the client has no other.
        let left_out = exchange(VERIFIER, None);
        assert_eq!(redeemable(&code, &server, &one_uri, &left_out, now), Ok(()));
        let two_uris = client(&["http://127.0.0.1:9/cb", "https://a.example/cb"]);
        assert_eq!(
            redeemable(&code, &server, &two_uris, &left_out, now),
            Err(GrantRefusal::RedirectUriMismatch)
        );
        let wrong_verifier = exchange(CHALLENGE, Some("http://127.0.0.1:9/cb"));
        assert_eq!(
            redeemable(&code, &server, &one_uri, &wrong_verifier, now),
            Err(GrantRefusal::VerifierMismatch)
        );
        let later = now.plus_seconds(120);
        assert_eq!(
            redeemable(&code, &server, &one_uri, &good, later),
            Err(GrantRefusal::CodeExpired)
        );
        let other_client = Client {
            client_id: "cli_2".into(),
            ..one_uri.clone()
        };
        assert_eq!(
            redeemable(&code, &server, &other_client, &good, now),
            Err(GrantRefusal::CodeOfAnotherClient)
        );
        let elsewhere = McpServer {
            id: Id::from_trusted("ms_2".into()),
            ..server.clone()
        };
        assert_eq!(
            redeemable(&code, &elsewhere, &one_uri, &good, now),
            Err(GrantRefusal::CodeOfAnotherServer)
        );
        let other_resource = CodeExchange {
            resource: Some("http://other.localhost/mcp"),
            ..good
        };
        assert_eq!(
            redeemable(&code, &server, &one_uri, &other_resource, now),
            Err(GrantRefusal::OtherResource(code.grant.resource.clone()))
        );
    }

    #[test]
    fn a_refresh_may_narrow_the_scope_but_not_widen_it() {
        let server = server();
        let grant = grant(&server);
        let client = client(&["http://127.0.0.1:9/cb"]);
        let refresh = |scope| Refresh {
            refresh_token: "gpr_x",
            scope,
            resource: None,
        };
        assert_eq!(
            refreshable(&grant, &server, &client, &refresh(Some("mcp"))),
            Ok(())
        );
        assert_eq!(
            refreshable(&grant, &server, &client, &refresh(Some("mcp admin"))),
            Err(GrantRefusal::ScopeWidened)
        );
        let other_client = Client {
            client_id: "cli_2".into(),
            ..client.clone()
        };
        assert_eq!(
            refreshable(&grant, &server, &other_client, &refresh(None)),
            Err(GrantRefusal::RefreshTokenOfAnother)
        );
    }

    #[test]
    fn refresh_tokens_go_only_to_clients_that_may_refresh() {
        let lifetimes = Lifetimes {
            access: Duration::from_secs(3600),
            refresh: Duration::from_secs(7200),
            refresh_grace: Duration::from_secs(5),
        };
        let now = Timestamp::now();
        let refreshing = client(&[]);
        let (stored, issued) = new_tokens(&refreshing, "mcp", now, lifetimes, &random_token);
        assert_eq!(stored.len(), 2);
        assert_eq!(issued.expires_in, 3600);
        assert_eq!(stored[0].hash, hash_secret(&issued.access_token));
        let code_only = Client {
            grant_types: vec!["authorization_code".into()],
            ..refreshing
        };
        let (stored, issued) = new_tokens(&code_only, "mcp", now, lifetimes, &random_token);
        assert_eq!(stored.len(), 1);
        assert!(issued.refresh_token.is_none());
    }
}
