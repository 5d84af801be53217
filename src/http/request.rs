//! Per-request facts every audit event and log line needs: the request id, the client address
//! and the endpoint.

use std::future::{ready, Ready};
use std::net::{IpAddr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::http::header::X_FORWARDED_FOR;
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::error::ApiError;

/// The id of the current request, set by the request middleware (incoming `X-Request-Id` kept).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Whether the last `X-Forwarded-For` entry may be trusted for the client address (app data).
#[derive(Clone, Copy, Debug)]
pub struct TrustProxyHeaders(pub bool);

#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub request_id: String,
    pub client_ip: String,
    /// Method and route pattern (`GET /api/v1/cases/{id}`): ids stay out, so it names the
    /// endpoint, not the record.
    pub endpoint: Option<String>,
}

impl RequestMeta {
    pub fn of(req: &HttpRequest) -> Self {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        let trust_proxy = req
            .app_data::<TrustProxyHeaders>()
            .is_some_and(|trust| trust.0);
        let client_ip = trust_proxy
            .then(|| proxied_client(req))
            .flatten()
            .or_else(|| req.peer_addr().map(|addr| addr.ip()))
            .map(|ip| ip.to_string())
            .unwrap_or_default();
        let endpoint = req
            .match_pattern()
            .map(|pattern| format!("{} {pattern}", req.method()));
        Self {
            request_id,
            client_ip,
            endpoint,
        }
    }
}

/// The address the trusted proxy appended: the last entry of the last `X-Forwarded-For` line.
/// Earlier entries come from the client (or proxies nobody vouches for) and may be forged; so
/// may `Forwarded` and `X-Real-Ip`, which are ignored. `None` when absent or not an address.
fn proxied_client(req: &HttpRequest) -> Option<IpAddr> {
    let line = req.headers().get_all(X_FORWARDED_FOR).last()?;
    let entry = line.to_str().ok()?.rsplit(',').next()?.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
}

impl FromRequest for RequestMeta {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}
