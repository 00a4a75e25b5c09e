//! The few pieces of cryptography the authorization server needs: PKCE S256, comparison
//! in constant time, one-time codes and the CSRF token of a login session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use guidepost_domain::hash_secret;
use rand::RngExt;
use sha2::{Digest, Sha256};

/// Digits in a one-time sign-in code.
pub(crate) const CODE_DIGITS: usize = 8;

/// Equality that takes the same time wherever the first difference is.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 7636 §4.1 / §4.2: a verifier or challenge is 43 to 128 unreserved characters.
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge.
pub(crate) fn pkce_s256_matches(verifier: &str, challenge: &str) -> bool {
    if !is_pkce_value(verifier) {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// A fresh one-time code of `CODE_DIGITS` digits.
pub(crate) fn one_time_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_DIGITS)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

/// The stored form of a one-time code: salted with its login session, so that equal codes
/// of two sessions do not hash alike.
pub(crate) fn one_time_code_hash(session_id: &str, code: &str) -> String {
    hash_secret(&format!("{session_id}:{code}"))
}

/// The CSRF token of the forms of a login session: derived from the session's cookie
/// secret, so only the browser holding the cookie can know it.
pub(crate) fn csrf_token(cookie_secret: &str) -> String {
    hash_secret(&format!("guidepost-login-csrf:{cookie_secret}"))[..32].to_owned()
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
    }

    #[test]
    fn codes_are_digits_and_hashes_are_salted() {
        let code = one_time_code();
        assert_eq!(code.len(), CODE_DIGITS);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(
            one_time_code_hash("a", &code),
            one_time_code_hash("b", &code)
        );
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd"));
    }
}
