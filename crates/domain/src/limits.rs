//! Size limits on every input. One place, so that the API, MCP tools and CLI agree.

pub struct Limits;

impl Limits {
    pub const NAME: usize = 200;
    pub const TITLE: usize = 200;
    pub const DESCRIPTION: usize = 20_000;
    pub const CONTEXT: usize = 20_000;
    /// The text of one `send_feedback`.
    pub const FEEDBACK: usize = 4_000;
    pub const INSTRUCTIONS: usize = 10_000;
    /// An organization's call-time policies, as written (Cedar).
    pub const POLICY_SOURCE: usize = 64 * 1024;
    pub const EMAIL: usize = 254;
    pub const DOMAIN: usize = 253;
    pub const TRACKING_ID: usize = 128;
    pub const ALLOWED_ORIGINS: usize = 50;
    /// Tools switched off on one server.
    pub const DISABLED_TOOLS: usize = 1000;
    /// A tool's name as a switch names it.
    pub const TOOL_NAME: usize = 128;
    pub const ORIGIN: usize = 300;
    pub const CLIENT_INFO: usize = 200;
    /// The longest `initialize` params (as JSON) a session-era session stores, to replay
    /// its handshake on another node; real clients send about 1 KiB.
    pub const INITIALIZE_PARAMS: usize = 16 * 1024;
    /// Arguments recorded with a tool call are truncated to this many bytes.
    pub const RECORDED_ARGUMENTS: usize = 16 * 1024;
    pub const RESULT_SUMMARY: usize = 500;
    pub const PAGE_SIZE_DEFAULT: u32 = 50;
    pub const PAGE_SIZE_MAX: u32 = 200;
    /// Upstreams one organization may install, and tools one upstream may list.
    pub const UPSTREAMS: usize = 100;
    /// Dashboard members of one organization.
    pub const MEMBERS: usize = 1000;
    /// Private catalog entries per organization.
    pub const CATALOG_ENTRIES: usize = 100;
    /// Hosted servers of one organization.
    pub const SERVERS: usize = 100;
    /// Walkthroughs of one organization (drafts, published and archived).
    pub const WALKTHROUGHS: usize = 1000;
    /// API keys of one organization not revoked.
    pub const API_KEYS: usize = 100;
    /// Webhooks of one organization.
    pub const WEBHOOKS: usize = 10;
    /// Interceptors of one organization: each may add its wait to every call.
    pub const INTERCEPTORS: usize = 5;
    /// Definitions of each kind (tools, prompts, resources, resource templates) one
    /// upstream may list; more are not kept.
    pub const UPSTREAM_TOOLS: usize = 500;
    /// The longest name, URI or URI template of an upstream's definition that is kept.
    pub const DEFINITION_KEY: usize = 2048;
    /// Connections one listing returns (a person's, or an upstream's people).
    pub const CONNECTIONS_LISTED: usize = 1000;
    /// The largest answer read from an upstream's authorization server.
    pub const AUTHORIZATION_RESPONSE: usize = 256 * 1024;
}

/// What an organization keeps only so many of. The store counts them, with the
/// organization's row locked, in the transaction that adds one, so that two additions at
/// once cannot both pass the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgCap {
    Servers,
    Walkthroughs,
    /// Keys not revoked: a revoked key stays listed for the audit trail.
    ApiKeys,
    Webhooks,
    Interceptors,
    Members,
    Upstreams,
    CatalogEntries,
}

impl OrgCap {
    pub const fn max(self) -> usize {
        match self {
            OrgCap::Servers => Limits::SERVERS,
            OrgCap::Walkthroughs => Limits::WALKTHROUGHS,
            OrgCap::ApiKeys => Limits::API_KEYS,
            OrgCap::Webhooks => Limits::WEBHOOKS,
            OrgCap::Interceptors => Limits::INTERCEPTORS,
            OrgCap::Members => Limits::MEMBERS,
            OrgCap::Upstreams => Limits::UPSTREAMS,
            OrgCap::CatalogEntries => Limits::CATALOG_ENTRIES,
        }
    }

    /// What the refusal says is kept, and how to make room.
    fn counted(self) -> (&'static str, &'static str) {
        match self {
            OrgCap::Servers => ("servers", "delete one first"),
            OrgCap::Walkthroughs => ("walkthroughs", "delete one first"),
            OrgCap::ApiKeys => ("API keys in use", "revoke one first"),
            OrgCap::Webhooks => ("webhooks", "delete one first"),
            OrgCap::Interceptors => ("interceptors", "delete one first"),
            OrgCap::Members => ("members", "remove someone first"),
            OrgCap::Upstreams => ("upstreams installed", "remove one first"),
            OrgCap::CatalogEntries => ("catalog entries of its own", "delete one first"),
        }
    }

    /// The answer to an addition past the cap.
    pub fn refusal(self) -> String {
        let (what, remedy) = self.counted();
        format!(
            "An organization has at most {} {what}: {remedy}.",
            self.max()
        )
    }
}

/// The longest prefix of `text` with at most `max` characters, cut at a character's
/// boundary: a slice, where collecting the characters one by one would copy each.
pub fn prefix_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// `text` with each NUL character replaced by U+FFFD. PostgreSQL refuses NUL in a TEXT
/// value, and with it the whole statement: caller text that is stored as it came (a tool
/// name, a client's name) is cleaned first, so that one caller's NUL fails nothing.
pub fn without_nul(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') {
        text.replace('\0', "\u{FFFD}").into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::{OrgCap, prefix_chars, without_nul};

    #[test]
    fn nul_characters_are_replaced_and_other_text_is_borrowed() {
        assert_eq!(without_nul("x\0y\0"), "x\u{FFFD}y\u{FFFD}");
        assert!(matches!(
            without_nul("plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn a_cap_refusal_says_how_many_and_how_to_make_room() {
        assert_eq!(
            OrgCap::ApiKeys.refusal(),
            "An organization has at most 100 API keys in use: revoke one first."
        );
        assert_eq!(OrgCap::Webhooks.max(), 10);
    }

    #[test]
    fn a_prefix_counts_characters_not_bytes() {
        assert_eq!(prefix_chars("héllo", 2), "hé");
        assert_eq!(prefix_chars("héllo", 5), "héllo");
        assert_eq!(prefix_chars("héllo", 50), "héllo");
        assert_eq!(prefix_chars("日本語", 1), "日");
        assert_eq!(prefix_chars("", 3), "");
        assert_eq!(prefix_chars("abc", 0), "");
    }
}
