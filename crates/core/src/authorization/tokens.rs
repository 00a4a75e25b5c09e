//! Grants, authorization codes and tokens. A code is spent once (a second use revokes
//! everything issued from it); a refresh token rotates on every use (presenting a rotated
//! one revokes its family).

use guidepost_domain::*;

use crate::{CoreError, Platform};

/// Records an approved authorization and its code, in one transaction.
pub async fn approve(
    platform: &Platform,
    grant: &NewGrant,
    code: &NewAuthorizationCode,
) -> Result<Grant, CoreError> {
    let now = Timestamp::now();
    Ok(platform
        .store
        .create_grant_with_code(grant, code, now)
        .await?)
}

/// Spends the authorization code with this hash.
pub async fn redeem_code(
    platform: &Platform,
    code_hash: &str,
) -> Result<CodeRedemption, CoreError> {
    let now = Timestamp::now();
    Ok(platform
        .store
        .consume_authorization_code(code_hash, now)
        .await?)
}

/// Stores a grant's new tokens; `false` when the grant was revoked meanwhile.
pub async fn issue(
    platform: &Platform,
    grant: &Grant,
    tokens: &[NewToken],
    now: Timestamp,
) -> Result<bool, CoreError> {
    Ok(platform
        .store
        .issue_tokens(&grant.org_id, &grant.id, tokens, now)
        .await?)
}

/// The token with this hash, with its grant and person.
pub async fn find(platform: &Platform, token_hash: &str) -> Result<Option<TokenRecord>, CoreError> {
    Ok(platform.store.find_token(token_hash).await?)
}

/// Spends a refresh token and stores its successors.
pub async fn rotate_refresh(
    platform: &Platform,
    token_hash: &str,
    successors: &[NewToken],
    now: Timestamp,
) -> Result<Rotation, CoreError> {
    Ok(platform
        .store
        .rotate_refresh_token(token_hash, successors, now)
        .await?)
}

/// Revokes what a presented token stands for (RFC 7009): a refresh token its whole
/// grant, an access token itself.
pub async fn revoke(
    platform: &Platform,
    record: &TokenRecord,
    token_hash: &str,
) -> Result<(), CoreError> {
    let grant = &record.grant;
    let now = Timestamp::now();
    let revoked = match record.kind {
        TokenKind::Refresh => {
            platform
                .store
                .revoke_grant(&grant.org_id, &grant.id, now)
                .await
        }
        TokenKind::Access => {
            platform
                .store
                .revoke_token(&grant.org_id, token_hash, now)
                .await
        }
    };
    Ok(revoked?)
}
