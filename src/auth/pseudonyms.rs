//! Keyed hashes (HMAC-SHA256) of what a caller typed as a username, for the login-throttle
//! counters and for audit events of failed logins under a name that is no account: people
//! sometimes type their password into the username field, and it must not be kept in clear.
//!
//! The key is derived from the access-token secret (`KARVON_JWT_SECRET`), which every replica
//! already shares, so throttling counts across replicas and a name's pseudonym stays the same
//! across restarts. Rotating that secret starts the throttle counters afresh and gives names new
//! pseudonyms (older audit events keep the old ones).

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::JwtSecret;

type HmacSha256 = Hmac<Sha256>;

/// Separates this use of the token secret from signing tokens.
const KEY_LABEL: &[u8] = b"karvon login pseudonyms v1";

/// Prefix of an unknown username's pseudonym in audit events; `:` never occurs in a username.
pub const UNKNOWN_USERNAME_PREFIX: &str = "unknown:";

#[derive(Clone)]
pub struct Pseudonyms {
    key: Arc<[u8]>,
}

impl Pseudonyms {
    pub fn new(secret: &JwtSecret) -> Self {
        let key = Self::mac(secret.as_bytes(), &[KEY_LABEL]);
        Self { key: key.into() }
    }

    /// A keyed hash of `parts`, each length-prefixed so that ("ab", "c") and ("a", "bc") differ.
    pub fn hash(&self, parts: &[&str]) -> String {
        let parts: Vec<&[u8]> = parts.iter().map(|part| part.as_bytes()).collect();
        URL_SAFE_NO_PAD.encode(Self::mac(&self.key, &parts))
    }

    /// How an audit event names a username that belongs to no account: `unknown:` and 128 bits
    /// of its keyed hash, so that repeated attempts under one name can be told apart from others.
    pub fn unknown_username(&self, username_key: &str) -> String {
        let digest = Self::mac(&self.key, &[b"username", username_key.as_bytes()]);
        format!(
            "{UNKNOWN_USERNAME_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(&digest[..16])
        )
    }

    fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_depend_on_the_secret_and_on_part_boundaries() {
        let one = Pseudonyms::new(&JwtSecret::from_bytes([1u8; 32]).unwrap());
        let two = Pseudonyms::new(&JwtSecret::from_bytes([2u8; 32]).unwrap());
        assert_eq!(one.hash(&["ab", "c"]), one.hash(&["ab", "c"]));
        assert_ne!(one.hash(&["ab", "c"]), one.hash(&["a", "bc"]));
        assert_ne!(one.hash(&["ab"]), two.hash(&["ab"]));
        let name = one.unknown_username("my secret passphrase");
        assert!(name.starts_with(UNKNOWN_USERNAME_PREFIX));
        assert!(!name.contains("passphrase"));
    }
}
