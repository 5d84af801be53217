//! PostgreSQL statements sent as one, a round trip saved for each but the last.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// `WITH first AS (…), second AS (…) last`: runs the statements of the tuple `P`, then `L`, as
/// one statement whose result is `L`'s. All of them see the snapshot taken before it began, so
/// none may need the rows another writes (an event's subjects, a consultation's topics: rows
/// about a new row, never reads of it).
pub struct Then<P, L>(pub P, pub L);

/// The statements before the last, as common table expressions.
pub trait Preceding {
    fn walk_ctes<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

impl<A: QueryFragment<Pg>> Preceding for (A,) {
    fn walk_ctes<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH first AS (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        Ok(())
    }
}

impl<A: QueryFragment<Pg>, B: QueryFragment<Pg>> Preceding for (A, B) {
    fn walk_ctes<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH first AS (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql("), second AS (");
        self.1.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        Ok(())
    }
}

impl<P: Preceding, L: QueryFragment<Pg>> QueryFragment<Pg> for Then<P, L> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ctes(&mut out)?;
        self.1.walk_ast(out)
    }
}

impl<P: QueryId, L: QueryId> QueryId for Then<P, L> {
    type QueryId = Then<P::QueryId, L::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = P::HAS_STATIC_QUERY_ID && L::HAS_STATIC_QUERY_ID;
}

/// Rows come from the last statement, a query.
impl<P, L: Query> Query for Then<P, L> {
    type SqlType = L::SqlType;
}

impl<P, L> RunQueryDsl<PgConnection> for Then<P, L> {}
