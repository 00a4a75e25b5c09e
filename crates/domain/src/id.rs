//! Prefixed random identifiers (`org_…`, `ms_…`): readable in logs, unguessable, and the
//! prefix tells at a glance which kind of object an id names.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The kinds of object that carry an id, each with its prefix.
pub trait IdKind {
    const PREFIX: &'static str;
}

macro_rules! id_kinds {
    ($($kind:ident => $prefix:literal),* $(,)?) => {
        $(
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
            pub struct $kind;
            impl IdKind for $kind {
                const PREFIX: &'static str = $prefix;
            }
        )*
    };
}

/// Markers for [`Id`]; the type parameter keeps an organization id from being passed
/// where a server id is expected.
pub mod kind {
    use super::IdKind;
    id_kinds! {
        Org => "org",
        Server => "ms",
        ApiKey => "key",
        EndUser => "msu",
        Session => "mss",
        SupportRequest => "sr",
        ToolCall => "tc",
        Walkthrough => "wt",
        Step => "ws",
        Progress => "wp",
        OAuthClient => "cli",
        LoginSession => "lgn",
        Grant => "grt",
        Upstream => "up",
        AuditEvent => "ae",
        Webhook => "wh",
        WebhookDelivery => "whd",
        Task => "task",
        Member => "mem",
        SupportMessage => "sm",
        Feedback => "fb",
        Interceptor => "icp",
        Approval => "apr",
    }
}

/// The ids of every kind, in one place.
pub type OrgId = Id<kind::Org>;
pub type ServerId = Id<kind::Server>;
pub type ApiKeyId = Id<kind::ApiKey>;
pub type EndUserId = Id<kind::EndUser>;
pub type SessionId = Id<kind::Session>;
pub type SupportRequestId = Id<kind::SupportRequest>;
pub type ToolCallId = Id<kind::ToolCall>;
pub type WebhookId = Id<kind::Webhook>;
pub type InterceptorId = Id<kind::Interceptor>;
pub type ApprovalId = Id<kind::Approval>;
pub type WebhookDeliveryId = Id<kind::WebhookDelivery>;
pub type UpstreamId = Id<kind::Upstream>;
pub type AuditEventId = Id<kind::AuditEvent>;
pub type OAuthClientId = Id<kind::OAuthClient>;
pub type LoginSessionId = Id<kind::LoginSession>;
pub type GrantId = Id<kind::Grant>;
pub type WalkthroughId = Id<kind::Walkthrough>;
pub type StepId = Id<kind::Step>;
pub type ProgressId = Id<kind::Progress>;
pub type TaskId = Id<kind::Task>;
pub type MemberId = Id<kind::Member>;
pub type SupportMessageId = Id<kind::SupportMessage>;
pub type FeedbackId = Id<kind::Feedback>;

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const RANDOM_LEN: usize = 20;
/// Base36 digits of the microsecond clock that lead a time-ordered id: 36^11 µs is
/// about 4,000 years after 1970, so the width never changes and text order is time order.
const TIME_LEN: usize = 11;
/// Random characters after the clock: 14 base36 characters, about 72 bits.
const TIME_ORDERED_RANDOM_LEN: usize = 14;

/// An identifier of one kind of object: `{prefix}_{20 random base36 characters}`, or
/// for rows written at a high rate `{prefix}_{11 base36 digits of the time}{14 random}`.
pub struct Id<K> {
    value: String,
    kind: PhantomData<K>,
}

impl<K: IdKind> Id<K> {
    /// A fresh random id.
    pub fn generate() -> Self {
        let random = crate::secret::random_string(ALPHABET, RANDOM_LEN);
        Self::from_trusted(format!("{}_{}", K::PREFIX, random))
    }

    /// A fresh id that sorts after the ids generated before `at`: the time in base36,
    /// then random characters. For rows written at a high rate (recorded tool calls),
    /// so that a new row's key lands at the end of its index instead of on a random
    /// page of it: a random key dirties one index page per row, which the database then
    /// writes to its log and copies back. Still unguessable (72 random bits).
    pub fn generate_in_time_order(at: crate::Timestamp) -> Self {
        let mut clock = [b'0'; TIME_LEN];
        let mut rest = u64::try_from(at.micros()).unwrap_or(0);
        for digit in clock.iter_mut().rev() {
            *digit = ALPHABET[(rest % 36) as usize];
            rest /= 36;
        }
        let clock = std::str::from_utf8(&clock).unwrap_or_default();
        let random = crate::secret::random_string(ALPHABET, TIME_ORDERED_RANDOM_LEN);
        Self::from_trusted(format!("{}_{clock}{random}", K::PREFIX))
    }

    /// Parses an id from untrusted input: the prefix must match and the rest must be
    /// lowercase alphanumerics of sane length.
    pub fn parse(value: &str) -> Option<Self> {
        let rest = value.strip_prefix(K::PREFIX)?.strip_prefix('_')?;
        let well_formed = (8..=40).contains(&rest.len())
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        well_formed.then(|| Self::from_trusted(value.to_owned()))
    }

    /// Wraps a value that came from our own store.
    pub fn from_trusted(value: String) -> Self {
        Self {
            value,
            kind: PhantomData,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<K> Clone for Id<K> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<K> Eq for Id<K> {}

impl<K> std::hash::Hash for Id<K> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state)
    }
}

impl<K> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<K> Serialize for Id<K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

/// In the OpenAPI document every id is one string schema, `Id`: the prefix is documented,
/// not typed.
impl<K> utoipa::PartialSchema for Id<K> {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "A prefixed random identifier, e.g. `ms_0123456789abcdefghij`",
            ))
            .into()
    }
}

impl<K> utoipa::ToSchema for Id<K> {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("Id")
    }
}

impl<'de, K: IdKind> Deserialize<'de> for Id<K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("not a valid {}_… id", K::PREFIX)))
    }
}

#[cfg(test)]
mod tests {
    use super::kind::{Org, Server};
    use super::*;

    #[test]
    fn time_ordered_ids_sort_by_time_and_parse_back() {
        let at = |micros| crate::Timestamp::from_micros(micros);
        let earlier = Id::<Org>::generate_in_time_order(at(1_764_000_000_000_000));
        let later = Id::<Org>::generate_in_time_order(at(1_764_000_000_000_001));
        let much_later = Id::<Org>::generate_in_time_order(at(4_000_000_000_000_000));
        assert!(earlier.as_str() < later.as_str());
        assert!(later.as_str() < much_later.as_str());
        assert_eq!(earlier.as_str().len(), later.as_str().len());
        assert_eq!(Id::<Org>::parse(later.as_str()), Some(later.clone()));
        let twin = Id::<Org>::generate_in_time_order(at(1_764_000_000_000_001));
        assert_ne!(
            twin, later,
            "the random part tells apart ids of the same microsecond"
        );
    }

    #[test]
    fn generated_ids_parse_back_and_carry_their_prefix() {
        let id = Id::<Org>::generate();
        assert!(id.as_str().starts_with("org_"));
        assert_eq!(Id::<Org>::parse(id.as_str()), Some(id.clone()));
        assert_eq!(Id::<Server>::parse(id.as_str()), None);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for bad in [
            "org_",
            "org_ABCDEFGHIJ",
            "org-abcdefghij",
            "org_abc",
            "org_abcdefgh!j",
        ] {
            assert!(Id::<Org>::parse(bad).is_none(), "{bad} should be refused");
        }
    }
}
