//! PostgreSQL: audit events and their subjects written with one prepared statement, however
//! many rows there are: the subjects' insert follows the events' in the same statement
//! ([`Then`](crate::db::then::Then)), a round trip less for every audited change. Each column of
//! many rows goes as one array and `unnest` turns the arrays back into rows. A multi-row
//! `VALUES` insert has a text of its own for every row count, so PostgreSQL parsed and planned
//! it afresh every time: a tenth of its CPU under a load of lists, each naming fifty people.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, Nullable, Text, Timestamp};

use super::model::AuditRow;
use crate::db::schema::audit_events;

/// A change's one event, with its thirteen values bound as they are: cheaper than thirteen
/// one-element arrays.
pub type EventInsert<'a> =
    diesel::dsl::Values<diesel::dsl::insert_into<audit_events::table>, &'a AuditRow>;

/// The events' columns, `at` first, then the text ones in [`INSERT_EVENTS`]'s order.
pub struct Events<'a> {
    at: Vec<NaiveDateTime>,
    texts: Vec<Vec<Option<&'a str>>>,
}

const INSERT_EVENTS: &str = "INSERT INTO audit_events (at, id, actor_id, actor_username, action, \
     entity_type, entity_id, centre_id, request_id, client_ip, changed_fields, endpoint, reason) \
     SELECT * FROM unnest(";

impl<'a> Events<'a> {
    pub fn new(rows: &[&'a AuditRow]) -> Self {
        let column = |value: fn(&'a AuditRow) -> Option<&'a str>| -> Vec<Option<&'a str>> {
            rows.iter().map(|row| value(row)).collect()
        };
        let texts = vec![
            column(|r| Some(&r.id)),
            column(|r| r.actor_id.as_deref()),
            column(|r| r.actor_username.as_deref()),
            column(|r| Some(&r.action)),
            column(|r| Some(&r.entity_type)),
            column(|r| r.entity_id.as_deref()),
            column(|r| r.centre_id.as_deref()),
            column(|r| r.request_id.as_deref()),
            column(|r| r.client_ip.as_deref()),
            column(|r| Some(&r.changed_fields)),
            column(|r| r.endpoint.as_deref()),
            column(|r| r.reason.as_deref()),
        ];
        Self {
            at: rows.iter().map(|row| row.at).collect(),
            texts,
        }
    }
}

impl QueryFragment<Pg> for Events<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(INSERT_EVENTS);
        out.push_bind_param::<Array<Timestamp>, _>(&self.at)?;
        for column in &self.texts {
            out.push_sql(", ");
            out.push_bind_param::<Array<Nullable<Text>>, _>(column)?;
        }
        out.push_sql(")");
        Ok(())
    }
}

/// The subjects' two columns: each event's id once per person it names.
pub struct Subjects<'a> {
    event_ids: Vec<&'a str>,
    migrant_ids: Vec<&'a str>,
}

impl<'a> Subjects<'a> {
    pub fn new(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let (event_ids, migrant_ids) = pairs.unzip();
        Self {
            event_ids,
            migrant_ids,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.event_ids.is_empty()
    }
}

impl QueryFragment<Pg> for Subjects<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO audit_event_subjects (event_id, migrant_id) SELECT * FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.event_ids)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.migrant_ids)?;
        out.push_sql(")");
        Ok(())
    }
}

crate::pg_statement!(Events);
crate::pg_statement!(Subjects);
