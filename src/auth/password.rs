//! Password hashing (argon2id) and the password policy.
//!
//! Hashing costs ~26 ms of CPU and 9 MiB at OWASP settings, so it runs on threads of its own
//! (`hashers`). An unknown user is checked against a dummy hash so that the response time does
//! not reveal which usernames exist.

use std::sync::Arc;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Params, Version};

use super::hashers::{Hashers, Memory};

use crate::config::PasswordHashing;
use crate::error::ApiError;

pub const MIN_PASSWORD_CHARS: usize = 12;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Common passwords of policy length, refused whatever their case.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

#[derive(Clone)]
pub struct Passwords {
    params: Params,
    hashers: Hashers,
    dummy_hash: Arc<String>,
}

impl Passwords {
    pub fn new(cost: PasswordHashing) -> anyhow::Result<Self> {
        let params = match cost {
            // One of OWASP's equivalent settings (with m = 19 MiB, t = 2 and others): the same
            // work in half the memory, so a burst of logins displaces less of the desk's data
            // from the shared caches. Hashes stored with other parameters are redone at login.
            PasswordHashing::Owasp => Params::new(9 * 1024, 4, 1, None),
            PasswordHashing::FastInsecure => Params::new(256, 1, 1, None),
        }
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let dummy_password = uuid::Uuid::now_v7().to_string();
        let dummy_hash = hash_with(&params, dummy_password.as_bytes(), &mut Memory::default())?;
        Ok(Self {
            params,
            hashers: Hashers::start()?,
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let params = self.params.clone();
        self.hashers
            .run(move |memory| {
                hash_with(&params, password.as_bytes(), memory).map_err(ApiError::internal)
            })
            .await
    }

    /// Whether `stored` was made with other parameters than new hashes get (an earlier cost
    /// setting): the next successful login hashes the password again.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        PasswordHash::new(stored)
            .ok()
            .and_then(|parsed| Params::try_from(&parsed).ok())
            .is_none_or(|params| {
                (params.m_cost(), params.t_cost(), params.p_cost())
                    != (
                        self.params.m_cost(),
                        self.params.t_cost(),
                        self.params.p_cost(),
                    )
            })
    }

    /// Whether `password` matches `stored`; with no stored hash (unknown user) the dummy hash
    /// is checked so the work done is the same, and the answer is always false.
    pub async fn verify(&self, stored: Option<String>, password: String) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.as_ref().clone());
        let matches = self
            .hashers
            .run(move |memory| Ok(verify_with(&hash, password.as_bytes(), memory)))
            .await?;
        Ok(known && matches)
    }
}

/// An argon2id hash of `password` with a fresh salt, in PHC string form, computed in `memory`.
fn hash_with(params: &Params, password: &[u8], memory: &mut Memory) -> anyhow::Result<String> {
    let fail = |e: &dyn std::fmt::Display| anyhow::anyhow!("argon2 hashing failed: {e}");
    let salt = argon2::password_hash::try_generate_salt().map_err(|e| fail(&e))?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, &salt, &mut output, memory.blocks(params))
        .map_err(|e| fail(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| fail(&e))?),
        hash: Some(Output::new(&output).map_err(|e| fail(&e))?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored`, computed in `memory`: what the argon2
/// crate's `verify_password` does, without allocating (and faulting in) its block every time.
fn verify_with(stored: &str, password: &[u8], memory: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return false;
    };
    let mut computed = vec![0u8; expected.len()];
    let blocks = memory.blocks(&params);
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt.as_ref(), &mut computed, blocks)
        .is_ok()
        // `Output` compares in constant time.
        && Output::new(&computed).is_ok_and(|computed| &computed == expected)
}

/// The password policy: 12–256 characters, not containing the username, not a common password.
/// Returns the reason a password is refused.
pub fn check_policy(password: &str, username: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(format!("must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(format!("must be at most {MAX_PASSWORD_CHARS} characters"));
    }
    let lowered = password.to_lowercase();
    if !username.is_empty() && lowered.contains(&username.to_lowercase()) {
        return Err("must not contain the username".into());
    }
    if COMMON_PASSWORDS
        .lines()
        .any(|common| !common.is_empty() && common == lowered)
    {
        return Err("is too common; choose a passphrase of several unrelated words".into());
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(c))
    {
        return Err("must not repeat a single character".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_refuses_short_common_and_username_passwords() {
        assert!(check_policy("short", "amir").is_err());
        assert!(check_policy("password1234", "amir").is_err());
        assert!(check_policy("xx-amir-rahimov-xx", "amir").is_err());
        assert!(check_policy("aaaaaaaaaaaaaa", "amir").is_err());
        assert!(check_policy("plum orchard teapot 42", "amir").is_ok());
    }

    /// Our hashes verify with the argon2 crate's own verifier and the other way round, also when
    /// the reused memory still holds a larger earlier hash's blocks.
    #[test]
    fn hashes_are_standard_argon2id_whatever_the_memory_held() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let (small, large) = (Params::new(256, 1, 1, None), Params::new(512, 2, 1, None));
        let (small, large) = (small.unwrap(), large.unwrap());
        let mut memory = Memory::default();
        let ours = hash_with(&large, b"plum orchard", &mut memory).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, small)
            .hash_password(b"plum orchard")
            .unwrap()
            .to_string();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"plum orchard", &parsed)
            .is_ok());
        assert!(verify_with(&theirs, b"plum orchard", &mut memory));
        assert!(verify_with(&ours, b"plum orchard", &mut memory));
        assert!(!verify_with(&theirs, b"plum orchards", &mut memory));
        assert!(!verify_with(&ours, b"plum orchards", &mut memory));
        assert!(!verify_with("not a hash", b"plum orchard", &mut memory));
    }
}
