//! Side tables of a session (topics, facilitators, tallies), the checks of the references a
//! session names, and its responses, built a page at a time.

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::{GroupSession, GroupSessionResponse, SessionParts, Tally, TallyRow};
use crate::auth::roles::{CentreStaff, Role};
use crate::consultations::model::Topic;
use crate::consultations::queries::topic_set;
use crate::db::schema::{
    group_session_attendees, group_session_facilitators, group_session_tallies,
    group_session_topics, service_providers, users,
};
use crate::db::DbConnection;
use crate::error::{ApiError, FieldError};

/// One multi-row INSERT of `rows` (a non-empty `Vec`) on whichever backend `conn` is: diesel's
/// multi-backend connection has no batch insert, and a session's attendees come by hundreds.
macro_rules! insert_all {
    ($conn:expr, $table:expr, $rows:expr) => {
        match &mut *$conn {
            $crate::db::DbConnection::Postgresql(pg) => {
                diesel::insert_into($table).values($rows).execute(pg)
            }
            $crate::db::DbConnection::Sqlite(sqlite) => {
                diesel::insert_into($table).values($rows).execute(sqlite)
            }
        }
    };
}
pub(crate) use insert_all;

pub fn store_topics(
    conn: &mut DbConnection,
    session_id: &str,
    topics: &[Topic],
) -> QueryResult<()> {
    diesel::delete(
        group_session_topics::table.filter(group_session_topics::session_id.eq(session_id)),
    )
    .execute(conn)?;
    let rows: Vec<_> = topic_set(topics.to_vec())
        .into_iter()
        .map(|topic| {
            (
                group_session_topics::session_id.eq(session_id),
                group_session_topics::topic.eq(topic),
            )
        })
        .collect();
    insert_all!(conn, group_session_topics::table, rows)?;
    Ok(())
}

/// A set of user ids as it is stored: sorted, each once.
pub fn id_set(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids.dedup();
    ids
}

pub fn store_facilitators(
    conn: &mut DbConnection,
    session_id: &str,
    facilitators: &[String],
) -> QueryResult<()> {
    diesel::delete(
        group_session_facilitators::table
            .filter(group_session_facilitators::session_id.eq(session_id)),
    )
    .execute(conn)?;
    let rows: Vec<_> = id_set(facilitators.to_vec())
        .into_iter()
        .map(|user| {
            (
                group_session_facilitators::session_id.eq(session_id),
                group_session_facilitators::user_id.eq(user),
            )
        })
        .collect();
    insert_all!(conn, group_session_facilitators::table, rows)?;
    Ok(())
}

/// Replaces the session's tallies (rows counting nobody are not kept).
pub fn store_tallies(
    conn: &mut DbConnection,
    session_id: &str,
    tallies: &[Tally],
) -> QueryResult<()> {
    diesel::delete(
        group_session_tallies::table.filter(group_session_tallies::session_id.eq(session_id)),
    )
    .execute(conn)?;
    let rows: Vec<TallyRow> = tallies
        .iter()
        .filter(|t| t.count > 0)
        .map(|t| TallyRow {
            id: uuid::Uuid::now_v7().to_string(),
            session_id: session_id.to_owned(),
            sex: t.sex,
            age_band: t.age_band,
            migration_status: t.migration_status,
            count: t.count,
        })
        .collect();
    if !rows.is_empty() {
        insert_all!(conn, group_session_tallies::table, rows)?;
    }
    Ok(())
}

/// Tallies as they are stored and shown: counts above zero, in a stable order.
pub fn tally_set(tallies: &[Tally]) -> Vec<Tally> {
    let mut kept: Vec<Tally> = tallies.iter().filter(|t| t.count > 0).cloned().collect();
    kept.sort_by_key(|t| (t.sex, t.age_band, t.migration_status));
    kept
}

/// 422 naming each facilitator (`facilitators[i]`) who is not an active counsellor or
/// supervisor of the caller's centre. On PostgreSQL their rows stay locked to share until the
/// transaction ends, so none can be moved away between this check and the write.
pub fn check_facilitators(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    facilitators: &[String],
) -> Result<(), ApiError> {
    let query = users::table
        .filter(users::id.eq_any(facilitators))
        .filter(users::centre_id.eq(&staff.centre_id))
        .filter(users::active.eq(true))
        .filter(users::role.eq_any([Role::Counsellor, Role::Supervisor]))
        .select(users::id);
    let found: Vec<String> = match conn {
        DbConnection::Postgresql(pg) => query.for_share().load(pg)?,
        DbConnection::Sqlite(sqlite) => query.load(sqlite)?,
    };
    let errors: Vec<FieldError> = facilitators
        .iter()
        .enumerate()
        .filter(|(_, id)| !found.contains(id))
        .map(|(i, _)| {
            FieldError::new(
                format!("facilitators[{i}]"),
                "must be an active counsellor or supervisor of your centre",
            )
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::unprocessable_fields(errors))
    }
}

/// 422 unless the partner is an active directory entry the centre may use (its own or global).
pub fn check_partner(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    provider_id: &str,
) -> Result<(), ApiError> {
    let usable: i64 = service_providers::table
        .filter(service_providers::id.eq(provider_id))
        .filter(service_providers::active.eq(true))
        .filter(
            service_providers::centre_id
                .is_null()
                .or(service_providers::centre_id.eq(&staff.centre_id)),
        )
        .count()
        .get_result(conn)?;
    if usable == 1 {
        Ok(())
    } else {
        Err(ApiError::unprocessable_field(
            "partner_provider_id",
            "no active directory entry with this id is open to your centre",
        ))
    }
}

/// Responses for a page of sessions: topics, facilitators, tallies and registered counts in
/// one query each.
pub fn responses(
    conn: &mut DbConnection,
    rows: Vec<GroupSession>,
) -> QueryResult<Vec<GroupSessionResponse>> {
    let ids: Vec<&str> = rows.iter().map(|s| s.id.as_str()).collect();
    let mut topics = grouped(
        group_session_topics::table
            .filter(group_session_topics::session_id.eq_any(&ids))
            .select((
                group_session_topics::session_id,
                group_session_topics::topic,
            ))
            .load::<(String, Topic)>(conn)?,
    );
    let mut facilitators = grouped(
        group_session_facilitators::table
            .filter(group_session_facilitators::session_id.eq_any(&ids))
            .select((
                group_session_facilitators::session_id,
                group_session_facilitators::user_id,
            ))
            .load::<(String, String)>(conn)?,
    );
    let tally_rows: Vec<TallyRow> = group_session_tallies::table
        .filter(group_session_tallies::session_id.eq_any(&ids))
        .load(conn)?;
    let mut tallies = grouped(
        tally_rows
            .into_iter()
            .map(|row| (row.session_id.clone(), Tally::from(row)))
            .collect(),
    );
    let registered: HashMap<String, i64> = group_session_attendees::table
        .filter(group_session_attendees::session_id.eq_any(&ids))
        .group_by(group_session_attendees::session_id)
        .select((
            group_session_attendees::session_id,
            diesel::dsl::count_star(),
        ))
        .load::<(String, i64)>(conn)?
        .into_iter()
        .collect();
    Ok(rows
        .into_iter()
        .map(|s| {
            let parts = SessionParts {
                topics: topic_set(topics.remove(&s.id).unwrap_or_default()),
                facilitators: id_set(facilitators.remove(&s.id).unwrap_or_default()),
                tallies: tally_set(&tallies.remove(&s.id).unwrap_or_default()),
                registered: registered.get(&s.id).copied().unwrap_or(0),
            };
            GroupSessionResponse::new(s, parts)
        })
        .collect())
}

fn grouped<T>(pairs: Vec<(String, T)>) -> HashMap<String, Vec<T>> {
    let mut by_session: HashMap<String, Vec<T>> = HashMap::new();
    for (id, value) in pairs {
        by_session.entry(id).or_default().push(value);
    }
    by_session
}

/// One session's response.
pub fn response(
    conn: &mut DbConnection,
    session: GroupSession,
) -> Result<GroupSessionResponse, ApiError> {
    responses(conn, vec![session])?
        .pop()
        .ok_or_else(|| ApiError::internal("group session vanished"))
}
