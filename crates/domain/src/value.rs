//! Validated values. Each `parse` is the one place where its rule lives.

use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::Limits;

/// Why an input was refused, phrased for the person or agent who sent it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Checks a free-text field: not blank (when required), at most `max` characters, and no
/// NUL bytes (PostgreSQL refuses them in text).
pub fn validate_text(field: &'static str, value: &str, max: usize) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value.contains('\0') {
        return Err(ValidationError::new(
            field,
            "must not contain NUL characters",
        ));
    }
    Ok(())
}

/// A server slug: `[a-z0-9-]{3,40}`, unique platform-wide, the first label of its host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let ok_chars = value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !(3..=40).contains(&value.len()) || !ok_chars {
            return Err(ValidationError::new(
                "slug",
                "must be 3 to 40 characters of a-z, 0-9 and '-'",
            ));
        }
        if value.starts_with('-') || value.ends_with('-') {
            return Err(ValidationError::new(
                "slug",
                "must not start or end with '-'",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> Self {
        slug.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An email address, lowercased. The check is deliberately modest (one `@`, a dotted
/// domain, no spaces): the real proof of an address is the one-time code sent to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let value = value.trim().to_lowercase();
        let invalid =
            || ValidationError::new("email", "must be an email address such as ada@example.com");
        if value.len() > Limits::EMAIL {
            return Err(ValidationError::new(
                "email",
                format!("must be at most {} characters", Limits::EMAIL),
            ));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@');
        if local.is_empty() || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The mailbox this address reaches, for counting what is sent to it: most mail
    /// providers deliver `ada+x@example.com` to `ada@example.com`, so a `+tag` is dropped
    /// (the address is already lower case).
    pub fn mailbox_key(&self) -> String {
        let (local, domain) = self.0.split_once('@').expect("parsed emails have an @");
        let local = local.split_once('+').map_or(local, |(base, _)| base);
        let local = if local.is_empty() { "+" } else { local };
        format!("{local}@{domain}")
    }
}

impl TryFrom<String> for Email {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_enum! {
    /// How end users of a server are identified.
    AuthMode {
        None => "none",
        CollectEmail => "collect_email",
        PlatformOauth => "platform_oauth",
        CustomOauth => "custom_oauth",
    }
}

impl AuthMode {
    /// Whether the transport requires a bearer token.
    pub fn requires_token(self) -> bool {
        matches!(self, AuthMode::PlatformOauth | AuthMode::CustomOauth)
    }
}

string_enum! {
    /// What a hosted server offers: a normal tenant server, or the conformance fixture.
    ServerKind {
        Standard => "standard",
        ConformanceFixture => "conformance_fixture",
    }
}

string_enum! {
    /// Life of a support request.
    SupportStatus {
        Open => "open",
        InProgress => "in_progress",
        Resolved => "resolved",
        Closed => "closed",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mailbox_keys_fold_case_and_plus_tags() {
        let key = |s: &str| super::Email::parse(s).unwrap().mailbox_key();
        assert_eq!(key("Ada+Login1@Example.com"), "ada@example.com");
        assert_eq!(key("ada+a+b@example.com"), "ada@example.com");
        assert_eq!(key("ada@example.com"), "ada@example.com");
        assert_eq!(key("+tag@example.com"), "+@example.com");
        assert_ne!(key("ada@example.com"), key("ada@example.org"));
    }

    use super::*;

    #[test]
    fn slugs_follow_the_pattern() {
        assert!(Slug::parse("acme").is_ok());
        assert!(Slug::parse("a-1").is_ok());
        for bad in ["ab", "Acme", "acme_x", "-acme", &"a".repeat(41), "ac me"] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
        for bad in [
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn text_limits_count_characters() {
        assert!(validate_text("title", "é".repeat(200).as_str(), 200).is_ok());
        assert!(validate_text("title", "é".repeat(201).as_str(), 200).is_err());
        assert!(validate_text("title", "   ", 200).is_err());
        assert!(validate_text("title", "a\0b", 200).is_err());
    }

    #[test]
    fn enums_round_trip_their_text() {
        for mode in AuthMode::ALL {
            assert_eq!(AuthMode::parse(mode.as_str()), Some(*mode));
        }
        assert_eq!(AuthMode::parse("oauth"), None);
    }
}

/// A tracking id from a personal URL (`…/mcp?tracking_id=…`): 1 to 128 characters of
/// letters, digits, `.`, `_` and `-`, so that it can be written into a URL unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingId(String);

impl TrackingId {
    /// A fresh tracking id for a personal URL, with the prefix (e.g. `demo-`): 40 random
    /// letters and digits, about 238 bits, so that nobody guesses another person's URL
    /// (at least 128 are needed).
    pub fn generate(prefix: &str) -> Self {
        Self(crate::random_token(prefix))
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let ok = (1..=Limits::TRACKING_ID).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(ValidationError::new(
                "tracking_id",
                "must be 1 to 128 characters of letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tracking_id_tests {
    use super::TrackingId;

    #[test]
    fn minted_tracking_ids_are_long_random_and_valid() {
        let a = TrackingId::generate("demo-");
        let b = TrackingId::generate("demo-");
        assert_ne!(a.as_str(), b.as_str());
        let random = a.as_str().strip_prefix("demo-").unwrap();
        assert_eq!(random.len(), 40, "{random}");
        assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(TrackingId::parse(a.as_str()).is_ok());
        // Every one of the 62 letters and digits turns up in 8,000 characters (a missing
        // one would be a 1-in-e^129 chance), so each character carries log2(62) bits:
        // 40 × 5.954 ≈ 238 bits, as documented (at least 128 is asked for).
        let seen: std::collections::BTreeSet<u8> = (0..200)
            .flat_map(|_| {
                TrackingId::generate("")
                    .as_str()
                    .bytes()
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(seen.len(), 62, "{seen:?}");
        let bits = 40.0 * (seen.len() as f64).log2();
        assert!((238.0..239.0).contains(&bits), "{bits}");
    }
}

impl TryFrom<String> for TrackingId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<TrackingId> for String {
    fn from(id: TrackingId) -> Self {
        id.0
    }
}

/// Checks a DNS host name: lowercase labels of a-z, 0-9 and '-', at least two labels.
pub fn validate_domain(field: &'static str, value: &str) -> Result<(), ValidationError> {
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if value.len() > Limits::DOMAIN
        || value.split('.').count() < 2
        || !value.split('.').all(label_ok)
    {
        return Err(ValidationError::new(
            field,
            "must be a lowercase host name such as mcp.example.com",
        ));
    }
    Ok(())
}

/// Checks a browser origin: `scheme://host[:port]`, no path, or the literal `null`.
pub fn validate_origin(value: &str) -> Result<(), ValidationError> {
    let invalid = || {
        ValidationError::new(
            "allowed_origins",
            format!("{value:?} is not an origin such as https://app.example.com"),
        )
    };
    if value == "null" {
        return Ok(());
    }
    let (scheme, rest) = value.split_once("://").ok_or_else(invalid)?;
    let host_ok = !rest.is_empty()
        && rest.len() <= Limits::ORIGIN
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !matches!(scheme, "http" | "https") || !host_ok {
        return Err(invalid());
    }
    Ok(())
}
