//! The caller's session, looked up at most once per request. Whichever needs it first (the
//! idempotency layer or a handler's extractor) runs the lookup; the outcome stays in the request's
//! extensions for the other. A request that needs no session (probes, login) makes no lookup.
//!
//! How a session is checked is not this module's business: `auth` implements
//! [`SessionResolver`] and the app is wired with it, so `http` does not depend on `auth`.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use actix_web::{HttpMessage, HttpRequest};
use tokio::sync::OnceCell;

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
