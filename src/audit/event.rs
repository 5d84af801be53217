//! Recording an audit event: a change's in its own transaction, a read's through the group
//! committer.

use diesel::prelude::*;
use diesel::query_builder::QueryId;

use super::arrays;
use super::model::AuditRow;
use crate::auth::staff::Staff;
use crate::db::precondition;
use crate::db::schema::{audit_event_subjects, audit_events};
use crate::db::then::Then;
use crate::db::DbConnection;
use crate::http::RequestMeta;

/// One audit event under construction.
pub struct Event<'a> {
    action: &'a str,
    entity_type: &'a str,
    entity_id: Option<&'a str>,
    centre_id: Option<&'a str>,
    subjects: Vec<&'a str>,
    changed_fields: Vec<&'a str>,
    actor_id: Option<&'a str>,
    actor_username: Option<&'a str>,
    meta: Option<&'a RequestMeta>,
    reason: Option<&'a str>,
}

impl<'a> Event<'a> {
    pub fn new(action: &'a str, entity_type: &'a str, entity_id: Option<&'a str>) -> Self {
        Self {
            action,
            entity_type,
            entity_id,
            centre_id: None,
            subjects: Vec::new(),
            changed_fields: Vec::new(),
            actor_id: None,
            actor_username: None,
            meta: None,
            reason: None,
        }
    }

    pub fn by(mut self, staff: &'a Staff) -> Self {
        self.actor_id = Some(&staff.id);
        self.actor_username = Some(&staff.username);
        self.meta = Some(&staff.meta);
        self
    }

    /// For events without an authenticated actor (failed logins): the claimed username.
    pub fn claimed_by(
        mut self,
        username: &'a str,
        user_id: Option<&'a str>,
        meta: &'a RequestMeta,
    ) -> Self {
        self.actor_username = Some(username);
        self.actor_id = user_id;
        self.meta = Some(meta);
        self
    }

    pub fn centre(mut self, centre_id: Option<&'a str>) -> Self {
        self.centre_id = centre_id;
        self
    }

    /// A migrant whose personal data the event concerns (for their access log); `None` (an
    /// anonymous consultation) adds nobody.
    pub fn subject(mut self, migrant_id: Option<&'a str>) -> Self {
        self.subjects.extend(migrant_id);
        self
    }

    /// Every migrant a response shows, e.g. the people on a page of a list.
    pub fn subjects(mut self, migrant_ids: impl IntoIterator<Item = &'a str>) -> Self {
        self.subjects.extend(migrant_ids);
        self
    }

    /// Why the action was taken, for the few actions that keep one (never personal data).
    pub fn reason(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Names of the fields the change touched (never their values).
    pub fn changed(mut self, fields: Vec<&'a str>) -> Self {
        self.changed_fields = fields;
        self
    }

    /// Writes the event and its subjects in the transaction of the change it describes, so that
    /// a failure here fails the request instead of answering unaudited.
    pub fn record(self, conn: &mut DbConnection) -> QueryResult<()> {
        insert(conn, &[&self.into_entry()])
    }

    /// Notes the event of a read, to be committed with the other reads' events before the
    /// response goes out (see [`super::reads`]).
    pub fn defer(self, deferred: &mut Deferred) {
        deferred.0.push(self.into_entry());
    }

    fn into_entry(self) -> Entry {
        let owned = |text: Option<&str>| text.map(str::to_owned);
        let mut subjects: Vec<String> = self.subjects.iter().map(|s| (*s).to_owned()).collect();
        subjects.sort_unstable();
        subjects.dedup();
        let row = AuditRow {
            id: uuid::Uuid::now_v7().to_string(),
            at: chrono::Utc::now().naive_utc(),
            actor_id: owned(self.actor_id),
            actor_username: owned(self.actor_username),
            action: self.action.to_owned(),
            entity_type: self.entity_type.to_owned(),
            entity_id: owned(self.entity_id),
            centre_id: owned(self.centre_id),
            request_id: self.meta.map(|m| m.request_id.clone()),
            client_ip: self.meta.map(|m| m.client_ip.clone()),
            changed_fields: serde_json::to_string(&self.changed_fields)
                .unwrap_or_else(|_| "[]".into()),
            endpoint: self.meta.and_then(|m| m.endpoint.clone()),
            reason: owned(self.reason),
        };
        Entry { row, subjects }
    }
}

/// An event ready to be written: its row and the people it names.
pub struct Entry {
    row: AuditRow,
    subjects: Vec<String>,
}

/// The events a read noted, not yet written.
#[derive(Default)]
pub struct Deferred(pub(super) Vec<Entry>);

/// Writes events and their subjects, on the concrete connection: diesel's multi-backend
/// connection has neither PostgreSQL's arrays nor SQLite's cheapest path.
pub(super) fn insert(conn: &mut DbConnection, entries: &[&Entry]) -> QueryResult<()> {
    match conn {
        DbConnection::Postgresql(pg) => insert_together(pg, entries),
        DbConnection::Sqlite(sqlite) => insert_each(sqlite, entries),
    }
}

/// PostgreSQL: one prepared statement, however many events and subjects there are.
fn insert_together(conn: &mut PgConnection, entries: &[&Entry]) -> QueryResult<()> {
    let subjects = arrays::Subjects::new(entries.iter().flat_map(|entry| {
        let event_id = entry.row.id.as_str();
        entry
            .subjects
            .iter()
            .map(move |migrant| (event_id, migrant.as_str()))
    }));
    let [entry] = entries else {
        let rows: Vec<&AuditRow> = entries.iter().map(|entry| &entry.row).collect();
        let events = arrays::Events::new(&rows);
        if subjects.is_empty() {
            events.execute(conn)?;
        } else {
            Then((events,), subjects).execute(conn)?;
        }
        return Ok(());
    };
    insert_change(conn, entry, subjects)
}

/// A change's event. The session check of the write making it, while waiting on this thread
/// ([`precondition`]), goes along in the same statement: a round trip less per write.
fn insert_change(
    conn: &mut PgConnection,
    entry: &Entry,
    subjects: arrays::Subjects,
) -> QueryResult<()> {
    let event = event_insert(entry);
    match (precondition::waiting(), subjects.is_empty()) {
        (None, true) => {
            event.execute(conn)?;
        }
        (None, false) => {
            Then((event,), subjects).execute(conn)?;
        }
        (Some(check), true) => precondition::judged(check.run_after(conn, (event,))?),
        (Some(check), false) => precondition::judged(check.run_after(conn, (event, subjects))?),
    }
    Ok(())
}

// Both found in the statement cache by their type, so each is prepared once per connection.
const _: () = assert!(Then::<(arrays::EventInsert,), arrays::Subjects>::HAS_STATIC_QUERY_ID);
const _: () = assert!(Then::<(arrays::Events,), arrays::Subjects>::HAS_STATIC_QUERY_ID);

fn event_insert<'a>(entry: &'a Entry) -> arrays::EventInsert<'a> {
    diesel::insert_into(audit_events::table).values(&entry.row)
}

/// SQLite: one prepared single-row statement per row, which costs no round trip in process,
/// while a multi-row insert is parsed afresh every time and, inside a transaction, journals
/// every page it touches in case it must be undone alone: a third of the audit writer's time
/// under a load of reads.
fn insert_each(conn: &mut SqliteConnection, entries: &[&Entry]) -> QueryResult<()> {
    for entry in entries {
        event_insert(entry).execute(conn)?;
    }
    for entry in entries {
        for migrant_id in &entry.subjects {
            diesel::insert_into(audit_event_subjects::table)
                .values((
                    audit_event_subjects::event_id.eq(&entry.row.id),
                    audit_event_subjects::migrant_id.eq(migrant_id),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}
