//! The comparisons the authorization server's rules rest on: secrets in constant time,
//! and PKCE S256 (RFC 7636).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guidepost_domain::hash_secret;

/// Equality that takes the same time wherever the first difference is.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 7636 §4.1 / §4.2: a verifier or challenge is 43 to 128 unreserved characters.
pub fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge. The platform's SHA-256 is
/// `hash_secret`, in hex, so the challenge is decoded and compared in hex: a challenge
/// that is not canonical base64url of 32 bytes matches no verifier, as before encoding.
pub(super) fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    if !is_pkce_value(verifier) {
        return false;
    }
    let Ok(digest) = URL_SAFE_NO_PAD.decode(challenge) else {
        return false;
    };
    let challenge_hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    constant_time_eq(hash_secret(verifier).as_bytes(), challenge_hex.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_the_rfc_example() {
        // RFC 7636, Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_s256_matches(verifier, challenge));
        assert!(!pkce_s256_matches(challenge, challenge));
        assert!(!pkce_s256_matches("short", challenge));
        assert!(!pkce_s256_matches(verifier, &format!("{challenge}=")));
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}
