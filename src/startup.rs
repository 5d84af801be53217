//! Builds the application: pool, migrations, bootstrap admin, routes, middleware, server.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::ResponseError;
use actix_web::{web, App, HttpResponse, HttpServer};
use actix_web_prom::{PrometheusMetrics, PrometheusMetricsBuilder};
use prometheus::{Encoder, Registry, TextEncoder};
use utoipa::OpenApi;
use utoipa_actix_web::{scope, AppExt};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::auth::password::Passwords;
use crate::auth::pseudonyms::Pseudonyms;
use crate::auth::tokens::TokenKeys;
use crate::config::{JwtSecret, ServeConfig};
use crate::db::wal::Checkpoints;
use crate::error::ApiError;
use crate::http::fallback::{self, KnownRoutes};
use crate::http::idempotency::FingerprintKey;
use crate::http::json::BodyLimit;
use crate::http::request::TrustProxyHeaders;
use crate::openapi::{ApiDoc, DocumentWide};
use crate::reports::turns::ReportTurns;
use crate::state::AppState;

/// Where the OpenAPI document is served, for Swagger UI and for clients' code generators.
const OPENAPI_JSON_PATH: &str = "/api-docs/openapi.json";

/// Registers every API route under `/api/v1`, and the operational ones at the root.
fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.configure(crate::ops::configure).service(
        scope::scope(crate::http::representation::API_BASE)
            .configure(crate::auth::configure)
            .configure(crate::centres::configure)
            .configure(crate::users::configure)
            .configure(crate::rights::configure)
            .configure(crate::migrants::configure)
            .configure(crate::cases::configure)
            .configure(crate::consultations::configure)
            .configure(crate::group_sessions::configure)
            .configure(crate::providers::configure)
            .configure(crate::referrals::configure)
            .configure(crate::follow_ups::configure)
            .configure(crate::caseloads::configure)
            .configure(crate::reports::configure)
            .configure(crate::audit::routes::configure),
    );
}

/// The OpenAPI document of the routes this binary serves.
pub fn api_spec() -> utoipa::openapi::OpenApi {
    let (_, mut spec) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(routes)
        .split_for_parts();
    utoipa::Modify::modify(&DocumentWide, &mut spec);
    spec
}

pub struct Application {
    port: u16,
    server: Server,
    pool: crate::db::Pool,
    housekeeping_interval: std::time::Duration,
    metrics_server: Option<Server>,
    metrics_port: Option<u16>,
    /// Start-up work still waiting for the database (it was down when the server started).
    preparing: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// What every worker's `App` is built from.
#[derive(Clone)]
struct AppParts {
    state: web::Data<AppState>,
    known_routes: web::Data<KnownRoutes>,
    /// The OpenAPI document, serialized once for every worker to serve.
    spec_json: web::Bytes,
    metrics: PrometheusMetrics,
    body_limit: usize,
    cors_origins: Vec<String>,
    trust_proxy: TrustProxyHeaders,
}

/// The pool as configured (built off the executor: SQLite switches the file to WAL first).
async fn open_pool(config: &ServeConfig) -> anyhow::Result<crate::db::Pool> {
    let database = config.database.clone();
    Ok(tokio::task::spawn_blocking(move || {
        crate::db::build_pool(
            &database.database_url,
            database.database_pool_size,
            database.database_check_on_checkout,
            database.checkout_timeout(),
        )
        .with_grouped_writes()
    })
    .await??)
}

impl Application {
    /// Binds the listeners, and migrates and creates the first admin if needed. When the
    /// database is down, the server answers at once (`/healthz` 200, everything else 503) while
    /// start-up keeps retrying for `DATABASE_STARTUP_WAIT_SECS`; [`Application::run`] fails if
    /// it never comes. The server runs when [`Application::run`] is awaited.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        // Building the hasher computes the dummy hash (~20 ms of argon2): off the executor.
        let cost = config.password_hashing;
        let passwords = tokio::task::spawn_blocking(move || Passwords::new(cost)).await??;
        let pool = open_pool(&config).await?;
        let startup = Startup {
            pool: pool.clone(),
            passwords: passwords.clone(),
            config: config.clone(),
        };
        let probe = pool.clone();
        let preparing = if tokio::task::spawn_blocking(move || probe.try_connect().is_ok()).await? {
            startup.prepare().await?;
            None
        } else {
            Some(tokio::spawn(startup.prepare()))
        };
        let secret = jwt_secret(&config);
        let state = web::Data::new(AppState {
            read_audit: crate::audit::ReadAudit::start(&pool)?,
            pool: pool.clone(),
            tokens: TokenKeys::new(&secret, config.access_token_ttl()),
            passwords,
            pseudonyms: Pseudonyms::new(&secret),
            refresh_ttl: chrono::Duration::days(
                i64::try_from(config.refresh_token_ttl_days).unwrap_or(30),
            ),
            fingerprint_key: FingerprintKey::derive(&secret),
            checkpoints: Checkpoints::start(&pool)?,
            report_turns: ReportTurns::for_pool(config.database.database_pool_size),
        });
        let parts = AppParts::new(state, &config)?;
        let (metrics_server, metrics_port) = match config.metrics_bind {
            Some(bind) => metrics_server(bind, parts.metrics.registry.clone())
                .map(|(server, port)| (Some(server), Some(port)))?,
            None => (None, None),
        };
        let listener = TcpListener::bind(config.bind)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || parts.app())
            .worker_max_blocking_threads(blocking_threads(&config))
            .shutdown_timeout(config.shutdown_timeout_secs)
            .listen(listener)?
            .run();
        Ok(Self {
            port,
            server,
            pool,
            housekeeping_interval: std::time::Duration::from_secs(
                config.housekeeping_interval_secs,
            ),
            metrics_server,
            metrics_port,
            preparing,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener, when `METRICS_BIND` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_port
    }

    /// A handle to stop the server (tests stop it before dropping their database).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, then stops accepting, lets in-flight requests finish (up to
    /// `SHUTDOWN_TIMEOUT_SECS`) and returns. Housekeeping runs alongside, and stops with it.
    pub async fn run(self) -> std::io::Result<()> {
        let housekeeping = crate::housekeeping::spawn(self.pool, self.housekeeping_interval);
        let metrics = self.metrics_server.map(|server| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let served = match self.preparing {
            None => self.server.await,
            Some(preparing) => serve_while_preparing(self.server, preparing).await,
        };
        housekeeping.abort();
        if let Some((handle, server)) = metrics {
            handle.stop(true).await;
            let _ = server.await;
        }
        served
    }
}

/// Serves while start-up waits for the database; stops the server if start-up gives up.
async fn serve_while_preparing(
    server: Server,
    mut preparing: tokio::task::JoinHandle<anyhow::Result<()>>,
) -> std::io::Result<()> {
    let handle = server.handle();
    let mut server = tokio::spawn(server);
    let prepared = tokio::select! {
        served = &mut server => {
            preparing.abort();
            return served.map_err(std::io::Error::other)?;
        }
        prepared = &mut preparing => prepared.map_err(anyhow::Error::from).and_then(|p| p),
    };
    if let Err(cause) = &prepared {
        tracing::error!(%cause, "start-up gave up; stopping");
        handle.stop(false).await;
    }
    let served = server.await.map_err(std::io::Error::other)?;
    prepared.map_err(std::io::Error::other).and(served)
}

/// What start-up does with the database before requests may use it.
struct Startup {
    pool: crate::db::Pool,
    passwords: Passwords,
    config: ServeConfig,
}

impl Startup {
    /// Waits for the database (bounded), migrates, creates the first admin, opens the pool.
    async fn prepare(self) -> anyhow::Result<()> {
        self.wait_for_database().await?;
        let database = self.config.database.clone();
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut conn = pool.get()?;
            let applied = crate::db::run_migrations(&mut conn)?;
            let backend = database.database_url.backend_name();
            tracing::info!(applied, backend, "database ready");
            Ok(())
        })
        .await??;
        let configured = self.config.bootstrap_admin_password.clone();
        let created =
            crate::users::bootstrap::ensure_admin(&self.pool, &self.passwords, configured).await?;
        if let Some(password) = created {
            // Printed once, to the operator's terminal only (never to the structured log).
            eprintln!(
                "\nCreated the first account: username `admin`, one-time password `{password}`\n\
                 Log in with it and choose a new password (POST /api/v1/me/password).\n"
            );
        }
        self.pool.mark_migrated();
        Ok(())
    }

    /// Retries every second for `DATABASE_STARTUP_WAIT_SECS`, logging why every ten seconds.
    /// Only each attempt blocks, so stopping the server stops the waiting.
    async fn wait_for_database(&self) -> anyhow::Result<()> {
        let database = &self.config.database;
        let patience = std::time::Duration::from_secs(database.database_startup_wait_secs);
        let started = tokio::time::Instant::now();
        let mut attempts = 0u64;
        loop {
            let pool = self.pool.clone();
            let Err(cause) = tokio::task::spawn_blocking(move || pool.try_connect()).await? else {
                return Ok(());
            };
            if started.elapsed() >= patience {
                anyhow::bail!(
                    "cannot connect to {} (waited {} s, DATABASE_STARTUP_WAIT_SECS): {cause}",
                    database.database_url,
                    patience.as_secs()
                );
            }
            if attempts % 10 == 0 {
                tracing::warn!(
                    database = %database.database_url,
                    %cause,
                    waited_secs = started.elapsed().as_secs(),
                    patience_secs = patience.as_secs(),
                    "waiting for the database; /readyz and the API answer 503 until it answers"
                );
            }
            attempts += 1;
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}

/// Blocking threads per worker: one per pooled connection, since database work is what runs
/// there (password hashing has threads of its own). More threads would only wait for a
/// connection, and each costs memory (actix allows hundreds).
fn blocking_threads(config: &ServeConfig) -> usize {
    usize::try_from(config.database.database_pool_size).unwrap_or(8)
}

fn jwt_secret(config: &ServeConfig) -> JwtSecret {
    config.jwt_secret.clone().unwrap_or_else(|| {
        tracing::warn!(
            "KARVON_JWT_SECRET is not set: using a random secret; every token dies when the server restarts"
        );
        JwtSecret::random()
    })
}

impl AppParts {
    fn new(state: web::Data<AppState>, config: &ServeConfig) -> anyhow::Result<Self> {
        let spec = api_spec();
        let spec_json = web::Bytes::from(serde_json::to_vec(&spec)?);
        // Unmatched paths share one label: otherwise every probed URL becomes a new series.
        // No endpoint here: metrics are served only by the separate `METRICS_BIND` listener.
        let metrics = PrometheusMetricsBuilder::new("karvon")
            .mask_unmatched_patterns("UNMATCHED")
            .build()
            .map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
        Ok(Self {
            state,
            known_routes: web::Data::new(KnownRoutes::from_openapi(&spec)),
            spec_json,
            metrics,
            body_limit: usize::try_from(config.body_limit_bytes).unwrap_or(BodyLimit::DEFAULT),
            cors_origins: config
                .cors_origins
                .iter()
                .filter(|origin| !origin.is_empty())
                .cloned()
                .collect(),
            trust_proxy: TrustProxyHeaders(config.trust_proxy_headers),
        })
    }

    fn cors(&self) -> Cors {
        self.cors_origins.iter().fold(
            Cors::default()
                .allowed_methods(["GET", "POST", "PATCH"])
                .allowed_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::IF_MATCH,
                    header::HeaderName::from_static("idempotency-key"),
                    header::HeaderName::from_static("x-request-id"),
                ])
                .expose_headers([
                    header::ETAG,
                    header::LOCATION,
                    header::CONTENT_LOCATION,
                    header::HeaderName::from_static(crate::http::idempotency::REPLAYED_HEADER),
                    header::RETRY_AFTER,
                    header::HeaderName::from_static("x-request-id"),
                ])
                .max_age(3600),
            |cors, origin| cors.allowed_origin(origin),
        )
    }

    /// One worker's application. Swagger UI stays outside the measured scope: its catch-all
    /// path is a regex the metrics middleware cannot turn into a label (it warned per request).
    fn app(
        &self,
    ) -> App<
        impl actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
            Error = actix_web::Error,
            InitError = (),
        >,
    > {
        // Swagger UI first: the measured scope below matches every path. It reads the document
        // from its URL, served from bytes every worker shares rather than a copy per worker.
        let spec_json = self.spec_json.clone();
        let (app, _) = App::new()
            .service(SwaggerUi::new("/docs/{_:.*}").config(Config::from(OPENAPI_JSON_PATH)))
            .service(web::resource(OPENAPI_JSON_PATH).get(move || {
                let body = spec_json.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type(mime::APPLICATION_JSON)
                        .body(body)
                }
            }))
            .service(web::resource("/docs").to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header((header::LOCATION, "/docs/"))
                    .finish()
            }))
            .into_utoipa_app()
            .service(
                scope::scope("")
                    .wrap(self.metrics.clone())
                    .configure(routes)
                    .default_service(web::to(fallback::not_matched)),
            )
            .split_for_parts();
        app.app_data(self.state.clone())
            .app_data(self.known_routes.clone())
            .app_data(BodyLimit(self.body_limit))
            .app_data(self.trust_proxy)
            .app_data(web::PayloadConfig::new(self.body_limit))
            .app_data(web::PathConfig::default().error_handler(|error, _| {
                ApiError::bad_request(format!("invalid path parameter: {error}")).into()
            }))
            .default_service(web::to(fallback::not_matched))
            .wrap(from_fn(
                crate::http::idempotency::idempotent_posts::<crate::auth::staff::Sessions>,
            ))
            .wrap(from_fn(crate::http::session::checked_sessions))
            .wrap(self.cors())
            .wrap(from_fn(crate::http::middleware::request_context))
    }
}

/// Prometheus text format on its own listener, so traffic patterns are not public.
fn metrics_server(bind: std::net::SocketAddr, registry: Registry) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(bind)?;
    let address = listener.local_addr()?;
    tracing::info!(%address, "serving /metrics");
    let server = HttpServer::new(move || {
        let registry = registry.clone();
        App::new().route(
            "/metrics",
            web::get().to(move || {
                let registry = registry.clone();
                async move { metrics_text(&registry) }
            }),
        )
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok((server, address.port()))
}

fn metrics_text(registry: &Registry) -> HttpResponse {
    let mut buffer = Vec::new();
    match TextEncoder::new().encode(&registry.gather(), &mut buffer) {
        Ok(()) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(buffer),
        Err(error) => ApiError::internal(error).error_response(),
    }
}
