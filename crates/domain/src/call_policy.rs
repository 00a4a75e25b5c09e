//! An organization's call-time policies (Cedar, `guidepost-policy`): each publication is
//! a new version, the newest is in force, and an empty one turns them off.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{Limits, OrgId, Timestamp, ValidationError};

/// One published version of an organization's policies.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PolicyVersion {
    #[schema(value_type = String)]
    pub org_id: OrgId,
    /// 1 for the first publication, one more for each after it.
    pub version: i64,
    /// The policies as written, in Cedar; empty when they were turned off.
    pub source: String,
    /// The names of the policies, in the order written.
    pub names: Vec<String>,
    /// Who published it, by name (a member's email, an API key's name).
    pub published_by: String,
    pub created_at: Timestamp,
}

/// A version to publish, its source within [`Limits::POLICY_SOURCE`].
#[derive(Debug, Clone)]
pub struct NewPolicyVersion {
    pub org_id: OrgId,
    pub source: String,
    pub names: Vec<String>,
    pub published_by: String,
}

impl NewPolicyVersion {
    /// Checks the source's size; what it says is `guidepost-policy`'s to check.
    pub fn check_source(source: &str) -> Result<(), ValidationError> {
        if source.len() > Limits::POLICY_SOURCE {
            return Err(ValidationError::new(
                "source",
                format!(
                    "is {} bytes; policies may be at most {} bytes",
                    source.len(),
                    Limits::POLICY_SOURCE
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_over_the_limit_is_refused() {
        assert!(NewPolicyVersion::check_source(&"x".repeat(Limits::POLICY_SOURCE)).is_ok());
        let error = NewPolicyVersion::check_source(&"x".repeat(Limits::POLICY_SOURCE + 1));
        assert!(
            error
                .unwrap_err()
                .to_string()
                .contains("at most 65536 bytes")
        );
    }
}
