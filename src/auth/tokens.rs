//! Access tokens (short-lived HS256 JWTs) and refresh tokens (opaque, stored only hashed).

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::roles::Role;
use crate::config::JwtSecret;
use crate::error::ApiError;

pub const ISSUER: &str = "karvon";
pub const AUDIENCE: &str = "karvon-api";

/// What an access token carries. `sid` ties it to a session so that logout, deactivation and
/// password changes cut it at once; the account's role, centre, username and whether it must
/// change its password are as they were when the token was issued, and every request checks
/// them against the stored account (a change makes the token outdated: refresh it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub sid: String,
    pub preferred_username: String,
    pub role: Role,
    pub centre: Option<String>,
    pub must_change_password: bool,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
}

/// The account an access token is issued to, as it is stored at that moment.
pub struct Holder<'a> {
    pub user_id: &'a str,
    pub username: &'a str,
    pub role: Role,
    pub centre: Option<&'a str>,
    pub must_change_password: bool,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: Duration,
}

impl TokenKeys {
    pub fn new(secret: &JwtSecret, access_ttl: Duration) -> Self {
        // Only HS256 is accepted: `alg: none` or any other algorithm in a token is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            access_ttl,
        }
    }

    pub fn issue(&self, holder: &Holder<'_>, session_id: &str) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            sub: holder.user_id.to_owned(),
            sid: session_id.to_owned(),
            preferred_username: holder.username.to_owned(),
            role: holder.role,
            centre: holder.centre.map(str::to_owned),
            must_change_password: holder.must_change_password,
            iat: now,
            exp: now + i64::try_from(self.access_ttl.as_secs()).unwrap_or(900),
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(ApiError::internal)
    }

    /// Checks signature, algorithm, expiry, issuer and audience.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

/// A new random refresh token (256 bits, URL-safe).
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Refresh tokens are random and long, so a plain SHA-256 is enough to make a stolen table
/// useless (no need for a slow hash).
pub fn hash_refresh_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest)
}
