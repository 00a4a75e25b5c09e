//! Random tokens and their hashes. Secrets (API keys, later OAuth tokens) are shown once
//! and stored only as SHA-256 hashes: they are high-entropy random strings, so a fast
//! hash is enough, and lookups stay one indexed equality.

use rand::RngExt;
use sha2::{Digest, Sha256};

pub(crate) fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `len` random letters and digits (about 5.95 bits each).
pub fn random_alphanumeric(len: usize) -> String {
    random_string(TOKEN_ALPHABET, len)
}

/// A random token with `prefix`, carrying about 238 bits of entropy.
pub fn random_token(prefix: &str) -> String {
    format!("{prefix}{}", random_string(TOKEN_ALPHABET, 40))
}

/// Hex SHA-256 of a secret, the only form in which secrets are stored.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A freshly minted organization API key (`gp_…`): the plaintext is shown once.
pub struct ApiKeySecret {
    pub plaintext: String,
    pub hash: String,
    /// The first characters, kept to help people tell keys apart in listings.
    pub display_prefix: String,
}

impl ApiKeySecret {
    pub fn generate() -> Self {
        let plaintext = random_token("gp_");
        let hash = hash_secret(&plaintext);
        let display_prefix = plaintext[..8].to_owned();
        Self {
            plaintext,
            hash,
            display_prefix,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_unique_and_hash_deterministically() {
        let a = ApiKeySecret::generate();
        let b = ApiKeySecret::generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(hash_secret(&a.plaintext), a.hash);
        assert!(a.plaintext.starts_with("gp_") && a.plaintext.len() == 43);
    }
}
