//! Recording an audit event, in the transaction of the change or read it describes.

use diesel::prelude::*;

use crate::auth::staff::Staff;
use crate::db::schema::{audit_event_subjects, audit_events};
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

    /// Writes the event and its subjects: two statements whatever the number of subjects. Call
    /// it inside the transaction of the read or write it describes, so that a failure here
    /// fails the request instead of answering unaudited.
    pub fn record(mut self, conn: &mut DbConnection) -> QueryResult<()> {
        let id = uuid::Uuid::now_v7().to_string();
        let changed = serde_json::to_string(&self.changed_fields).unwrap_or_else(|_| "[]".into());
        diesel::insert_into(audit_events::table)
            .values((
                audit_events::id.eq(&id),
                audit_events::at.eq(chrono::Utc::now().naive_utc()),
                audit_events::actor_id.eq(self.actor_id),
                audit_events::actor_username.eq(self.actor_username),
                audit_events::action.eq(self.action),
                audit_events::entity_type.eq(self.entity_type),
                audit_events::entity_id.eq(self.entity_id),
                audit_events::centre_id.eq(self.centre_id),
                audit_events::request_id.eq(self.meta.map(|m| m.request_id.as_str())),
                audit_events::client_ip.eq(self.meta.map(|m| m.client_ip.as_str())),
                audit_events::changed_fields.eq(changed),
                audit_events::endpoint.eq(self.meta.and_then(|m| m.endpoint.as_deref())),
                audit_events::reason.eq(self.reason),
            ))
            .execute(conn)?;
        self.subjects.sort_unstable();
        self.subjects.dedup();
        if self.subjects.is_empty() {
            return Ok(());
        }
        let rows: Vec<_> = self
            .subjects
            .iter()
            .map(|migrant_id| {
                (
                    audit_event_subjects::event_id.eq(&id),
                    audit_event_subjects::migrant_id.eq(*migrant_id),
                )
            })
            .collect();
        // One multi-row statement, on the concrete connection: diesel's multi-backend
        // connection has no batch insert.
        let insert = diesel::insert_into(audit_event_subjects::table).values(&rows);
        match conn {
            DbConnection::Postgresql(pg) => insert.execute(pg),
            DbConnection::Sqlite(sqlite) => insert.execute(sqlite),
        }
        .map(|_| ())
    }
}
