//! What an API key may do: its scopes, chosen when it is made.
//!
//! A key is a bearer credential that programs keep in files and environments, so it gets
//! only what its program needs: `read` (every key reads its organization's objects),
//! `write` (change servers, walkthroughs, support requests, webhooks, identity providers),
//! `gateway` (install, attach and run upstreams, review their tools) and `admin` (API keys
//! and the organization's settings). A key is never given a scope its maker lacks, so a
//! leaked key cannot mint a stronger one that outlives its revocation.

string_enum! {
    /// One thing an API key may do.
    ApiKeyScope {
        Read => "read",
        Write => "write",
        Gateway => "gateway",
        Admin => "admin",
    }
}

/// The scopes of one key: never empty, since every key reads, and kept in the order of
/// [`ApiKeyScope::ALL`] so that equal sets read the same everywhere.
/// A word that names no API key scope, as a person wrote it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is no scope; choose from read, write, gateway, admin")]
pub struct UnknownApiKeyScope(pub String);

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct ApiKeyScopes(Vec<ApiKeyScope>);

impl ApiKeyScopes {
    /// The scopes of a key made without a choice: read and change the organization's
    /// content, but neither its gateway nor who acts for it.
    pub fn default_for_new_keys() -> Self {
        Self::from_chosen(&[ApiKeyScope::Read, ApiKeyScope::Write])
    }

    /// Every scope: an organization's first key, and every key made before scopes were.
    pub fn all() -> Self {
        Self(ApiKeyScope::ALL.to_vec())
    }

    /// The set of `chosen`, with `read` added (every key reads) and duplicates dropped.
    pub fn from_chosen(chosen: &[ApiKeyScope]) -> Self {
        let held = ApiKeyScope::ALL
            .iter()
            .copied()
            .filter(|scope| *scope == ApiKeyScope::Read || chosen.contains(scope))
            .collect();
        Self(held)
    }

    /// Parses names as a person writes them: `read,gateway` (commas and/or spaces).
    /// The error names the first word that names no scope.
    pub fn parse_list(text: &str) -> Result<Self, UnknownApiKeyScope> {
        let mut chosen = Vec::new();
        for word in text.split([',', ' ']).filter(|word| !word.is_empty()) {
            let scope = ApiKeyScope::parse(word).ok_or_else(|| UnknownApiKeyScope(word.into()))?;
            chosen.push(scope);
        }
        Ok(Self::from_chosen(&chosen))
    }

    pub fn contains(&self, scope: ApiKeyScope) -> bool {
        self.0.contains(&scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = ApiKeyScope> + '_ {
        self.0.iter().copied()
    }

    /// `read,write`: how the store keeps them and a person reads them.
    pub fn to_list(&self) -> String {
        let names: Vec<&str> = self.0.iter().map(|scope| scope.as_str()).collect();
        names.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_reads_and_sets_keep_one_order() {
        let chosen = ApiKeyScopes::from_chosen(&[ApiKeyScope::Admin, ApiKeyScope::Gateway]);
        assert_eq!(chosen.to_list(), "read,gateway,admin");
        assert_eq!(ApiKeyScopes::from_chosen(&[]).to_list(), "read");
        assert_eq!(ApiKeyScopes::default_for_new_keys().to_list(), "read,write");
        assert_eq!(ApiKeyScopes::all().to_list(), "read,write,gateway,admin");
        assert_eq!(
            ApiKeyScopes::parse_list("gateway, read,,admin gateway"),
            Ok(chosen)
        );
        assert_eq!(
            ApiKeyScopes::parse_list("read,owner"),
            Err(UnknownApiKeyScope("owner".into()))
        );
    }
}
