//! The caller's session, looked up at most once per request. Whichever needs it first (the
//! idempotency layer or a handler's extractor) runs the lookup; the outcome stays in the request's
//! extensions for the other. A request that needs no session (probes, login) makes no lookup.
//!
//! How a session is checked is not this module's business: `auth` implements
//! [`SessionResolver`] and the app is wired with it, so `http` does not depend on `auth`. The
//! check itself runs with the request's first query ([`crate::db::precondition`]);
//! [`checked_sessions`] runs it for a request that made none.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest, ResponseError};
use tokio::sync::OnceCell;

use crate::db::precondition;
use crate::error::ApiError;
use crate::state::AppState;

/// Checks the session a request carries.
pub trait SessionResolver: 'static {
    /// The session, or why the request may not use one.
    type Outcome: Clone + 'static;

    fn resolve(req: HttpRequest) -> Pin<Box<dyn Future<Output = Self::Outcome>>>;

    /// Whose idempotency keys the request uses; `None` when its handler will refuse it anyway.
    fn key_owner(outcome: &Self::Outcome) -> Option<String>;
}

/// The request's lazily filled outcome (a request extension).
struct Resolved<R: SessionResolver>(Rc<OnceCell<R::Outcome>>);

/// The request's session outcome, looked up on first use.
pub async fn session<R: SessionResolver>(req: &HttpRequest) -> R::Outcome {
    let cell = {
        let mut extensions = req.extensions_mut();
        match extensions.get::<Resolved<R>>() {
            Some(resolved) => Rc::clone(&resolved.0),
            None => {
                let cell = Rc::new(OnceCell::new());
                extensions.insert(Resolved::<R>(Rc::clone(&cell)));
                cell
            }
        }
    };
    cell.get_or_init(|| R::resolve(req.clone())).await.clone()
}

/// Runs the request where its session check can wait for its first query, and runs the check
/// after the handler when it never did (no query, or refused before one): then a failed check
/// replaces the answer, so an ended session gets 401 whatever the handler said.
pub async fn checked_sessions(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let pool = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.pool.clone())
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let (outcome, unchecked) = precondition::scope(next.call(req)).await;
    let Some(check) = unchecked else {
        return outcome.map(ServiceResponse::map_into_boxed_body);
    };
    let Err(refusal) = crate::db::run(&pool, move |conn| check.run(conn)).await else {
        return outcome.map(ServiceResponse::map_into_boxed_body);
    };
    match outcome {
        Ok(response) => {
            let (request, _) = response.into_parts();
            Ok(ServiceResponse::new(request, refusal.error_response()))
        }
        Err(_) => Err(refusal.into()),
    }
}
