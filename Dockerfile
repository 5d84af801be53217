# Karvon: multi-stage build. One binary serves both backends (SQLite and PostgreSQL); the
# migrations and Swagger UI assets are embedded, so nothing is downloaded at run time.
#
#   docker build -t karvon .
#   docker run -p 8080:8080 -e KARVON_JWT_SECRET=... -v karvon-data:/var/lib/karvon karvon

# ---- builder ---------------------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# libpq-dev: diesel's PostgreSQL backend links libpq; SQLite is bundled (libsqlite3-sys).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpq-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
RUN cargo build --release --locked \
    && install -m 0755 target/release/karvon /usr/local/bin/karvon

# ---- runtime ---------------------------------------------------------------------------------
FROM debian:bookworm-slim

# libpq5: PostgreSQL client library; ca-certificates: TLS to a managed database;
# curl: the HEALTHCHECK below.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system karvon \
    && useradd --system --gid karvon --home-dir /var/lib/karvon --shell /usr/sbin/nologin karvon \
    && mkdir -p /var/lib/karvon \
    && chown karvon:karvon /var/lib/karvon

COPY --from=builder /usr/local/bin/karvon /usr/local/bin/karvon

USER karvon
WORKDIR /var/lib/karvon
# The SQLite default keeps its file in /var/lib/karvon (mount a volume there to keep it);
# docker-compose.yml overrides DATABASE_URL with PostgreSQL.
ENV DATABASE_URL=sqlite:///var/lib/karvon/karvon.db \
    BIND=0.0.0.0:8080

EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1

ENTRYPOINT ["/usr/local/bin/karvon"]
CMD ["serve"]
