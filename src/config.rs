//! Configuration from environment variables (and a `.env` file when present), parsed and checked
//! by clap at start-up so that an invalid value stops the server with a clear message.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::db::DatabaseUrl;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Argon2id cost. `owasp` (m = 9 MiB, t = 4, p = 1) is the production setting; `fast-insecure`
/// exists only so test suites and CI fuzzing do not spend minutes hashing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PasswordHashing {
    Owasp,
    FastInsecure,
}

/// Database settings, shared by every command that touches the database.
#[derive(Clone, Debug, Args)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded, the default) or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://karvon.db", value_parser = DatabaseUrl::parse)]
    pub database_url: DatabaseUrl,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub database_pool_size: u32,

    /// How long start-up waits for an unreachable database before giving up, in seconds
    /// (0: give up at once). Lets `docker-compose up` and orchestrators converge.
    #[arg(long, env = "DATABASE_STARTUP_WAIT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub database_startup_wait_secs: u64,

    /// Test each pooled connection with `SELECT 1` before a request uses it. Off by default: a
    /// dead connection is discarded when its first query fails (that request answers 503). On
    /// costs a round trip per request (see bench/README.md); worth it only where idle
    /// connections are often cut silently (some firewalls, poolers).
    #[arg(long, env = "DATABASE_CHECK_ON_CHECKOUT", default_value_t = false, action = clap::ArgAction::Set)]
    pub database_check_on_checkout: bool,

    /// How long a request waits for a pooled connection (all busy, or the database unreachable)
    /// before it answers 503 with `Retry-After`, in seconds.
    #[arg(long, env = "DATABASE_CHECKOUT_TIMEOUT_SECS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub database_checkout_timeout_secs: u64,
}

impl DatabaseConfig {
    pub fn checkout_timeout(&self) -> Duration {
        Duration::from_secs(self.database_checkout_timeout_secs)
    }
}

/// Everything `karvon serve` needs.
#[derive(Clone, Debug, Args)]
pub struct ServeConfig {
    /// Address and port to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    #[command(flatten)]
    pub database: DatabaseConfig,

    /// Log output: `pretty` for a terminal, `json` for collectors. Filter with RUST_LOG.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,

    /// Comma-separated browser origins allowed to call the API (e.g.
    /// `https://app.example.org`). Empty: no cross-origin access.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_origins: Vec<String>,

    /// Largest accepted request body, in bytes; larger bodies get 413.
    #[arg(long, env = "BODY_LIMIT_BYTES", default_value_t = 1_048_576, value_parser = clap::value_parser!(u64).range(1024..=67_108_864))]
    pub body_limit_bytes: u64,

    /// HS256 signing secret for access tokens, at least 32 bytes. Unset: a random secret is
    /// generated at start, and every token dies when the server restarts.
    #[arg(long, env = "KARVON_JWT_SECRET", hide_env_values = true, value_parser = parse_jwt_secret)]
    pub jwt_secret: Option<JwtSecret>,

    /// Lifetime of an access token, in seconds.
    #[arg(long, env = "KARVON_ACCESS_TOKEN_TTL_SECS", default_value_t = 900, value_parser = clap::value_parser!(u64).range(30..=86_400))]
    pub access_token_ttl_secs: u64,

    /// Lifetime of a login session (its refresh tokens), in days.
    #[arg(long, env = "KARVON_REFRESH_TOKEN_TTL_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=365))]
    pub refresh_token_ttl_days: u64,

    /// Password hashing cost: `owasp` in production; `fast-insecure` only for tests.
    #[arg(
        long,
        env = "KARVON_PASSWORD_HASHING",
        value_enum,
        default_value = "owasp"
    )]
    pub password_hashing: PasswordHashing,

    /// Password for the `admin` account created on first start (otherwise a random one is
    /// printed once). The admin must change it at first login.
    #[arg(long, env = "KARVON_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,

    /// Take the client address from the last `X-Forwarded-For` entry, the one the reverse proxy
    /// appends (only behind a trusted proxy; otherwise clients could dodge login throttling by
    /// forging it).
    #[arg(long, env = "KARVON_TRUST_PROXY_HEADERS", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy_headers: bool,

    /// Address and port of a separate listener for Prometheus `/metrics` (e.g. `127.0.0.1:9100`).
    /// Unset: no metrics are served; they are never served on the public port.
    #[arg(long, env = "METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// On SIGTERM/SIGINT: seconds to let in-flight requests finish before exiting.
    #[arg(long, env = "SHUTDOWN_TIMEOUT_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub shutdown_timeout_secs: u64,
    /// Seconds between housekeeping runs (purging passed login-throttle windows and expired
    /// sessions).
    #[arg(long, env = "KARVON_HOUSEKEEPING_INTERVAL_SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub housekeeping_interval_secs: u64,
}

impl ServeConfig {
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    /// A configuration for tests and tools: loopback on a random port, no CORS, cheap hashing.
    pub fn for_tests(database_url: DatabaseUrl) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database: DatabaseConfig {
                database_url,
                database_pool_size: 4,
                database_startup_wait_secs: 0,
                database_check_on_checkout: false,
                database_checkout_timeout_secs: 2,
            },
            log_format: LogFormat::Pretty,
            cors_origins: Vec::new(),
            body_limit_bytes: 1_048_576,
            jwt_secret: Some(JwtSecret::random()),
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            password_hashing: PasswordHashing::FastInsecure,
            bootstrap_admin_password: None,
            trust_proxy_headers: false,
            metrics_bind: None,
            shutdown_timeout_secs: 10,
            housekeeping_interval_secs: 600,
        }
    }
}

/// The access-token signing secret. Its `Debug` never prints the value.
#[derive(Clone)]
pub struct JwtSecret(Vec<u8>);

impl JwtSecret {
    pub fn random() -> Self {
        use rand::RngCore;
        let mut bytes = vec![0u8; 48];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A secret from known bytes (at least 32), e.g. for tests that forge tokens.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, String> {
        let bytes = bytes.into();
        if bytes.len() < 32 {
            return Err("must be at least 32 bytes long".into());
        }
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(***)")
    }
}

fn parse_jwt_secret(value: &str) -> Result<JwtSecret, String> {
    JwtSecret::from_bytes(value.as_bytes())
}

fn parse_origin(value: &str) -> Result<String, String> {
    let origin = value.trim().trim_end_matches('/');
    if origin.is_empty() {
        // `CORS_ORIGINS=` (set but empty) means no cross-origin access.
        return Ok(String::new());
    }
    let valid_scheme = origin.starts_with("https://") || origin.starts_with("http://");
    let host = origin.split("://").nth(1).unwrap_or_default();
    if !valid_scheme
        || host.is_empty()
        || host.contains('/')
        || origin.contains(char::is_whitespace)
    {
        return Err(format!(
            "`{value}` is not an origin like https://app.example.org"
        ));
    }
    Ok(origin.to_owned())
}
