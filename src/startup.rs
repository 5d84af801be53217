//! Builds the application: pool, migrations, bootstrap admin, routes, middleware, server.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpResponse, HttpServer};
use actix_web_prom::PrometheusMetricsBuilder;
use utoipa::OpenApi;
use utoipa_actix_web::{scope, AppExt};
use utoipa_swagger_ui::SwaggerUi;

use crate::auth::password::Passwords;
use crate::auth::pseudonyms::Pseudonyms;
use crate::auth::tokens::TokenKeys;
use crate::config::{JwtSecret, ServeConfig};
use crate::error::ApiError;
use crate::http::fallback::{self, KnownRoutes};
use crate::http::idempotency::FingerprintKey;
use crate::http::json::BodyLimit;
use crate::http::request::TrustProxyHeaders;
use crate::openapi::{ApiDoc, DocumentWide};
use crate::state::AppState;

/// Registers every API route under `/api/v1`, and the operational ones at the root.
fn routes(cfg: &mut utoipa_actix_web::service_config::ServiceConfig) {
    cfg.configure(crate::ops::configure).service(
        scope::scope(crate::http::representation::API_BASE)
            .configure(crate::auth::configure)
            .configure(crate::centres::configure)
            .configure(crate::users::configure)
            .configure(crate::migrants::configure)
            .configure(crate::cases::configure)
            .configure(crate::consultations::configure)
            .configure(crate::providers::configure)
            .configure(crate::referrals::configure)
            .configure(crate::follow_ups::configure)
            .configure(crate::caseloads::configure)
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
}

impl Application {
    /// Connects, migrates, creates the first admin if needed and binds the listener. The server
    /// runs when [`Application::run`] is awaited.
    pub async fn build(config: ServeConfig) -> anyhow::Result<Self> {
        let database_url = config.database.database_url.clone();
        let pool_size = config.database.database_pool_size;
        let pool = tokio::task::spawn_blocking(move || -> anyhow::Result<crate::db::Pool> {
            let pool = crate::db::build_pool(&database_url, pool_size)
                .map_err(|e| anyhow::anyhow!("cannot connect to {database_url}: {e}"))?;
            let mut conn = pool.get()?;
            let applied = crate::db::run_migrations(&mut conn)?;
            tracing::info!(
                applied,
                backend = database_url.backend_name(),
                "database ready"
            );
            Ok(pool)
        })
        .await??;

        // Building the hasher computes the dummy hash (~20 ms of argon2): off the executor.
        let cost = config.password_hashing;
        let passwords = tokio::task::spawn_blocking(move || Passwords::new(cost)).await??;
        if let Some(password) = crate::auth::bootstrap::ensure_admin(
            &pool,
            &passwords,
            config.bootstrap_admin_password.clone(),
        )
        .await?
        {
            // Printed once, to the operator's terminal only (never to the structured log).
            eprintln!(
                "\nCreated the first account: username `admin`, one-time password `{password}`\n\
                 Log in with it and choose a new password (POST /api/v1/me/password).\n"
            );
        }

        let secret = match &config.jwt_secret {
            Some(secret) => secret.clone(),
            None => {
                tracing::warn!(
                    "KARVON_JWT_SECRET is not set: using a random secret; every token dies when the server restarts"
                );
                JwtSecret::random()
            }
        };
        let state = web::Data::new(AppState {
            pool: pool.clone(),
            tokens: TokenKeys::new(&secret, config.access_token_ttl()),
            passwords,
            pseudonyms: Pseudonyms::new(&secret),
            refresh_ttl: chrono::Duration::days(
                i64::try_from(config.refresh_token_ttl_days).unwrap_or(30),
            ),
            fingerprint_key: FingerprintKey::derive(&secret),
        });

        let spec = api_spec();
        let known_routes = web::Data::new(KnownRoutes::from_openapi(&spec));
        // Unmatched paths share one label: otherwise every probed URL becomes a new series.
        let metrics = PrometheusMetricsBuilder::new("karvon")
            .endpoint("/metrics")
            .mask_unmatched_patterns("UNMATCHED")
            .build()
            .map_err(|e| anyhow::anyhow!("metrics: {e}"))?;
        let body_limit = usize::try_from(config.body_limit_bytes).unwrap_or(BodyLimit::DEFAULT);
        let cors_origins: Vec<String> = config
            .cors_origins
            .iter()
            .filter(|origin| !origin.is_empty())
            .cloned()
            .collect();
        let trust_proxy = TrustProxyHeaders(config.trust_proxy_headers);

        let listener = TcpListener::bind(config.bind)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || {
            let cors = cors_origins.iter().fold(
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
            );
            let (app, _) = App::new()
                .into_utoipa_app()
                .configure(routes)
                .split_for_parts();
            app.app_data(state.clone())
                .app_data(known_routes.clone())
                .app_data(BodyLimit(body_limit))
                .app_data(trust_proxy)
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(web::PathConfig::default().error_handler(|error, _| {
                    ApiError::bad_request(format!("invalid path parameter: {error}")).into()
                }))
                .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", spec.clone()))
                .service(web::resource("/docs").to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((header::LOCATION, "/docs/"))
                        .finish()
                }))
                .default_service(web::to(fallback::not_matched))
                .wrap(from_fn(crate::http::idempotency::idempotent_posts))
                .wrap(cors)
                .wrap(metrics.clone())
                .wrap(from_fn(crate::http::middleware::request_context))
        })
        .shutdown_timeout(10)
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            pool,
            housekeeping_interval: std::time::Duration::from_secs(
                config.housekeeping_interval_secs,
            ),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server (tests stop it before dropping their database).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGTERM/SIGINT, then finishes in-flight requests (up to 10 s) and exits.
    /// Housekeeping runs alongside, and stops with the server.
    pub async fn run(self) -> std::io::Result<()> {
        let housekeeping = crate::housekeeping::spawn(self.pool, self.housekeeping_interval);
        let served = self.server.await;
        housekeeping.abort();
        served
    }
}
