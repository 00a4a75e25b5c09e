//! Secrets the platform must read back, sealed with its master key.
//!
//! Most secrets are only ever compared, and are stored as hashes (`guidepost_domain`). A few
//! must be presented to someone else later, such as the client secret an organization
//! gives for its own identity provider: those are sealed with AES-256-GCM under the
//! platform's master key (`serve --master-key` / `GUIDEPOST_MASTER_KEY`), with a random
//! nonce per secret and the record they belong to as associated data, so that a sealed
//! value copied to another record does not open.
//!
//! Sealed form: `gpk1.{key id}.{base64url(nonce ‖ ciphertext ‖ tag)}`. The key id (a
//! digest of the key, not the key) tells "sealed under another master key" apart from
//! "tampered with".

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use rand::RngExt;

const VERSION: &str = "gpk1";
const NONCE_BYTES: usize = 12;

/// The platform's 256-bit master key. Its `Debug` shows only its id.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
    id: String,
}

/// Why a master key or a sealed secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "the master key must be 32 random bytes, written as 64 hex digits or in base64 \
         (for example the output of `openssl rand -base64 32`)"
    )]
    BadKey,
    #[error(
        "the secret was sealed with another master key (key id {sealed_with}; this platform's is {current})"
    )]
    OtherKey {
        sealed_with: String,
        current: String,
    },
    #[error("the sealed secret is damaged or belongs to another record")]
    Damaged,
}

impl MasterKey {
    /// Parses a key given as 64 hex digits or as base64 (standard or URL-safe) of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex_bytes(text)
        } else {
            [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
        };
        let key: [u8; 32] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or(SecretError::BadKey)?;
        if key.iter().all(|b| *b == key[0]) {
            // All zeros (or any single repeated byte) is a placeholder, not a key.
            return Err(SecretError::BadKey);
        }
        Ok(Self::from_bytes(key))
    }

    pub fn from_bytes(key: [u8; 32]) -> Self {
        let digest =
            guidepost_domain::hash_secret(&format!("guidepost-master-key-id:{}", hex_string(&key)));
        Self {
            key,
            id: digest[..8].to_owned(),
        }
    }

    /// A short public identifier of the key (a digest, not the key).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` for the record named by `context` (e.g. `oidc:{server id}`).
    pub(crate) fn seal(&self, plaintext: &str, context: &str) -> String {
        let nonce_bytes: [u8; NONCE_BYTES] = rand::rng().random();
        let nonce = Nonce::from(nonce_bytes);
        let sealed = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM seals any text shorter than 64 GiB");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}.{}.{}", self.id, URL_SAFE_NO_PAD.encode(out))
    }

    /// Opens a value sealed by [`MasterKey::seal`] for the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SecretError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(VERSION), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SecretError::Damaged);
        };
        if id != self.id {
            return Err(SecretError::OtherKey {
                sealed_with: id.to_owned(),
                current: self.id.clone(),
            });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| SecretError::Damaged)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SecretError::Damaged);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SecretError::Damaged)?;
        let plaintext = self
            .cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Damaged)?;
        String::from_utf8(plaintext).map_err(|_| SecretError::Damaged)
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&self.key).expect("the key is 32 bytes")
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {})", self.id)
    }
}

fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn keys_parse_from_hex_and_base64_alike() {
        let from_hex = MasterKey::parse(HEX).unwrap();
        let bytes: Vec<u8> = (0u8..32).collect();
        for text in [STANDARD.encode(&bytes), URL_SAFE_NO_PAD.encode(&bytes)] {
            assert_eq!(MasterKey::parse(&text).unwrap().id(), from_hex.id());
        }
        for bad in [
            "",
            "short",
            &HEX[..62],
            &"00".repeat(32),
            &STANDARD.encode([7u8; 16]),
        ] {
            assert_eq!(
                MasterKey::parse(bad).unwrap_err(),
                SecretError::BadKey,
                "{bad}"
            );
        }
        assert!(
            !format!("{from_hex:?}").contains("0102"),
            "Debug hides the key"
        );
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_context() {
        let key = MasterKey::parse(HEX).unwrap();
        let sealed = key.seal("s3cret", "oidc:ms_1");
        assert!(!sealed.contains("s3cret"));
        assert_ne!(
            sealed,
            key.seal("s3cret", "oidc:ms_1"),
            "a fresh nonce each time"
        );
        assert_eq!(key.open(&sealed, "oidc:ms_1").unwrap(), "s3cret");
        assert_eq!(key.open(&sealed, "oidc:ms_2"), Err(SecretError::Damaged));
        let other = MasterKey::from_bytes([9; 32]);
        assert!(matches!(
            other.open(&sealed, "oidc:ms_1"),
            Err(SecretError::OtherKey { .. })
        ));
        let mut tampered = sealed.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(key.open(&tampered, "oidc:ms_1"), Err(SecretError::Damaged));
    }
}
