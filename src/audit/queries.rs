//! Reading the audit trail: pages of events with their subjects.

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::{AuditEvent, AuditRow};
use crate::db::schema::{audit_event_subjects, audit_events};
use crate::db::DbConnection;
use crate::http::{Page, PageLimit};

/// A page of events with their subjects, read in one query whatever the page size.
pub fn with_subjects(
    conn: &mut DbConnection,
    rows: Vec<AuditRow>,
    limit: PageLimit,
) -> QueryResult<Page<AuditEvent>> {
    Page::from_rows(rows, limit, |row| row.id.clone()).try_map_items(|rows| {
        let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
        let pairs: Vec<(String, String)> = audit_event_subjects::table
            .filter(audit_event_subjects::event_id.eq_any(&ids))
            .order((
                audit_event_subjects::event_id,
                audit_event_subjects::migrant_id,
            ))
            .select((
                audit_event_subjects::event_id,
                audit_event_subjects::migrant_id,
            ))
            .load(conn)?;
        let mut subjects: HashMap<String, Vec<String>> = HashMap::new();
        for (event_id, migrant_id) in pairs {
            subjects.entry(event_id).or_default().push(migrant_id);
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let ids = subjects.remove(&row.id).unwrap_or_default();
                AuditEvent::new(row, ids)
            })
            .collect())
    })
}

/// The events naming a person as a subject, newest first: an index range scan on
/// `audit_event_subjects`.
pub fn access_log(
    conn: &mut DbConnection,
    migrant_id: &str,
    before: Option<String>,
    limit: PageLimit,
) -> QueryResult<Page<AuditEvent>> {
    let mut q = audit_event_subjects::table
        .inner_join(audit_events::table)
        .filter(audit_event_subjects::migrant_id.eq(migrant_id.to_owned()))
        .into_boxed();
    if let Some(before) = before {
        q = q.filter(audit_event_subjects::event_id.lt(before));
    }
    let rows = q
        .order(audit_event_subjects::event_id.desc())
        .limit(limit.fetch())
        .select(AuditRow::as_select())
        .load::<AuditRow>(conn)?;
    with_subjects(conn, rows, limit)
}
