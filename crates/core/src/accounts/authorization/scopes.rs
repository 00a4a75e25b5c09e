//! The scopes of the authorization server: `mcp` is the one that lets a client use a
//! hosted server's tools; `offline_access` is accepted (clients add it to get refresh
//! tokens) but changes nothing.

/// The one scope that lets a client use a hosted MCP server's tools.
pub const MCP_SCOPE: &str = "mcp";

/// Scopes an authorization may ask for.
pub const KNOWN_SCOPES: &[&str] = &[MCP_SCOPE, "offline_access"];

/// A scope an authorization request asks for that this server does not offer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?}; this server offers {MCP_SCOPE}")]
pub struct UnknownScope(pub String);

/// The scopes an authorization request asks for, deduplicated in order; `mcp` when it
/// names none. `Err` names the first unknown scope.
pub fn requested(scope: Option<&str>) -> Result<String, UnknownScope> {
    let mut scopes: Vec<&str> = Vec::new();
    for scope in scope.unwrap_or(MCP_SCOPE).split_whitespace() {
        if !KNOWN_SCOPES.contains(&scope) {
            return Err(UnknownScope(scope.to_owned()));
        }
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes.join(" "))
}

/// The known scopes among those a client registers with (RFC 7591 lets the server drop
/// the others).
pub(super) fn known_among(scope: &str) -> String {
    scope
        .split_whitespace()
        .filter(|s| KNOWN_SCOPES.contains(s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether every scope of `asked` was granted (a refresh may narrow, never widen).
pub(super) fn within(granted: &str, asked: &str) -> bool {
    let granted: Vec<&str> = granted.split_whitespace().collect();
    asked.split_whitespace().all(|s| granted.contains(&s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_default_to_mcp_and_refuse_unknown_scopes() {
        assert_eq!(requested(None).unwrap(), "mcp");
        assert_eq!(
            requested(Some("mcp offline_access mcp")).unwrap(),
            "mcp offline_access"
        );
        assert_eq!(requested(Some("mcp admin")).unwrap_err().0, "admin");
        assert_eq!(known_among("admin mcp"), "mcp");
        assert!(within("mcp offline_access", "mcp") && !within("mcp", "mcp admin"));
    }
}
