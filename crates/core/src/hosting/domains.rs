//! Custom domains: a server serves at a custom domain only after its
//! organization proves control of it with a DNS TXT record, so that nobody can take a
//! domain that is not theirs, and a domain that one organization verified cannot be taken
//! by another (the column is unique). Asking for a domain makes it pending, with a fresh
//! challenge; the verification promotes it.

use crate::{Caller, Permission};
use async_trait::async_trait;
use guidepost_domain::*;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{CoreError, Platform};

/// The label under the domain where the challenge is published.
pub(crate) const CHALLENGE_LABEL: &str = "_guidepost-challenge";

/// Reads DNS TXT records (the platform's resolver, or `--dns-resolver`).
#[async_trait]
pub trait TxtRecords: Send + Sync {
    /// The strings of every TXT record at `name` (a record's strings joined); none when
    /// the name has no TXT record.
    async fn txt(&self, name: &str) -> Result<Vec<String>, TxtLookupError>;
}

/// Why a TXT lookup failed; the organization reads it in the verification's refusal.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TxtLookupError {
    /// The node's resolver could not be set up (its configuration did not read).
    #[error("no DNS resolver: {0}")]
    NoResolver(String),
    /// The resolver answered with an error other than "no such record".
    #[error("{0}")]
    Failed(String),
}

/// What the organization must publish for its pending domain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DomainChallenge {
    /// The domain asked for; it serves once verified.
    pub domain: String,
    pub record_type: &'static str,
    /// Where to publish the record, e.g. `_guidepost-challenge.mcp.acme.com`.
    pub record_name: String,
    pub record_value: String,
}

pub fn challenge(pending: &PendingDomain) -> DomainChallenge {
    DomainChallenge {
        domain: pending.domain.clone(),
        record_type: "TXT",
        record_name: record_name(&pending.domain),
        record_value: pending.token.clone(),
    }
}

fn record_name(domain: &str) -> String {
    format!("{CHALLENGE_LABEL}.{domain}")
}

/// A new challenge for `domain`.
pub(crate) fn pending(domain: String) -> PendingDomain {
    PendingDomain {
        domain,
        token: random_token("gp-verify-"),
    }
}

/// `POST /api/v1/servers/{id}/custom-domain/verify`: looks the challenge up and, when it
/// is published, serves the domain.
pub async fn verify(
    platform: &Platform,
    caller: &Caller,
    id: &ServerId,
) -> Result<McpServer, CoreError> {
    caller.require(Permission::Edit)?;
    let org = caller.org();
    let server = platform.store.get_server(org, id).await?;
    let Some(pending) = server.pending_domain else {
        let why = match server.custom_domain {
            Some(domain) => format!("{domain} is already verified"),
            None => "no custom domain awaits verification: set custom_domain first".to_owned(),
        };
        return Err(CoreError::Conflict(why));
    };
    let name = record_name(&pending.domain);
    let found = platform
        .domain_records
        .txt(&name)
        .await
        .map_err(|why| unverified(&format!("the DNS lookup of {name} failed: {why}")))?;
    if !found.iter().any(|value| value.trim() == pending.token) {
        let seen = if found.is_empty() {
            "no TXT record is published there".to_owned()
        } else {
            format!("its TXT records are {found:?}")
        };
        return Err(unverified(&format!(
            "publish a TXT record {name} with the value {}, then verify again ({seen})",
            pending.token
        )));
    }
    let verified = platform
        .store
        .verify_pending_domain(org, id, &pending)
        .await
        .map_err(|error| match CoreError::from(error) {
            CoreError::Conflict(_) => CoreError::Conflict(format!(
                "{} is already served by another server",
                pending.domain
            )),
            CoreError::NotFound => {
                CoreError::Conflict("the custom domain changed meanwhile; verify again".into())
            }
            other => other,
        })?;
    metrics::counter!("guidepost_custom_domains_verified_total").increment(1);
    let detail = serde_json::json!({"domain": pending.domain.to_string()});
    crate::audit::record_server(
        platform,
        caller,
        AuditAction::ServerDomainVerified,
        &verified,
        detail,
    )
    .await?;
    // Nodes hold the server in their caches: they forget it, and learn its domain.
    platform
        .announce_tools_changed(std::slice::from_ref(id))
        .await;
    Ok(verified)
}

fn unverified(why: &str) -> CoreError {
    ValidationError::new("custom_domain", why.to_owned()).into()
}
