//! Registered attendance: adding and removing people, the roster, and what the person's own
//! records show of it (export, case timeline) — and its erasure when they are anonymised.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::model::{AttendeeRow, SessionKind};
use super::queries::insert_all;
use crate::auth::roles::CentreStaff;
use crate::consultations::model::AgeBand;
use crate::db::schema::{
    group_session_attendees, group_session_tallies, group_sessions, idempotency_keys, migrants,
};
use crate::db::DbConnection;
use crate::error::{ApiError, FieldError};
use crate::http::representation::API_BASE;
use crate::migrants::model::{MigrationStatus, Sex};

/// Adds people of the caller's centre to a session; the ones newly added. Every person is
/// locked first (like any write naming a person), so none can be anonymised half-way; a person
/// not registered (or anonymised) in the centre answers 422 naming `migrant_ids[i]`, the same
/// whether the id exists elsewhere or not.
pub fn add(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    session_id: &str,
    migrant_ids: &[String],
) -> Result<Vec<String>, ApiError> {
    let found = crate::migrants::access::lock_registered_here(conn, staff, migrant_ids)?;
    let errors: Vec<FieldError> = migrant_ids
        .iter()
        .enumerate()
        .filter(|(_, id)| !found.contains(id))
        .map(|(i, _)| {
            FieldError::new(
                format!("migrant_ids[{i}]"),
                "no migrant with this id is registered in your centre",
            )
        })
        .collect();
    if !errors.is_empty() {
        return Err(ApiError::unprocessable_fields(errors));
    }
    let present: Vec<String> = group_session_attendees::table
        .filter(group_session_attendees::session_id.eq(session_id))
        .filter(group_session_attendees::migrant_id.eq_any(migrant_ids))
        .select(group_session_attendees::migrant_id)
        .load(conn)?;
    let mut added: Vec<String> = found
        .into_iter()
        .filter(|id| !present.contains(id))
        .collect();
    added.sort();
    let now = crate::time::now();
    let rows: Vec<_> = added
        .iter()
        .map(|migrant| {
            (
                group_session_attendees::session_id.eq(session_id),
                group_session_attendees::migrant_id.eq(migrant),
                group_session_attendees::added_by.eq(&staff.id),
                group_session_attendees::added_at.eq(now),
            )
        })
        .collect();
    if !rows.is_empty() {
        insert_all!(conn, group_session_attendees::table, rows)?;
    }
    Ok(added)
}

/// Removes one registered attendee; 404 when they are not on the session.
pub fn remove(conn: &mut DbConnection, session_id: &str, migrant_id: &str) -> Result<(), ApiError> {
    let removed = diesel::delete(
        group_session_attendees::table
            .filter(group_session_attendees::session_id.eq(session_id))
            .filter(group_session_attendees::migrant_id.eq(migrant_id)),
    )
    .execute(conn)?;
    if removed == 1 {
        Ok(())
    } else {
        Err(ApiError::not_found("attendee"))
    }
}

/// A page of the roster after `after` (a migrant id), in id order.
pub fn roster(
    conn: &mut DbConnection,
    session_id: &str,
    after: Option<&str>,
    fetch: i64,
) -> QueryResult<Vec<AttendeeRow>> {
    let mut q = group_session_attendees::table
        .inner_join(migrants::table)
        .filter(group_session_attendees::session_id.eq(session_id))
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(group_session_attendees::migrant_id.gt(after.to_owned()));
    }
    q.order(group_session_attendees::migrant_id.asc())
        .limit(fetch)
        .select((
            group_session_attendees::migrant_id,
            migrants::given_name,
            migrants::family_name,
            migrants::sex,
            migrants::migration_status,
            group_session_attendees::added_by,
            group_session_attendees::added_at,
        ))
        .load(conn)
}

/// A session the person attended, as their export and case timeline show it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionAttended {
    pub session_id: String,
    pub centre_id: String,
    pub kind: SessionKind,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i32,
    /// Who recorded the person's attendance, and when.
    pub added_by: String,
    pub added_at: DateTime<Utc>,
}

type AttendedRow = (
    String,
    String,
    SessionKind,
    String,
    NaiveDateTime,
    i32,
    String,
    NaiveDateTime,
);

impl From<AttendedRow> for SessionAttended {
    fn from(row: AttendedRow) -> Self {
        let (session_id, centre_id, kind, title, starts_at, duration_minutes, added_by, added_at) =
            row;
        Self {
            session_id,
            centre_id,
            kind,
            title,
            starts_at: crate::time::utc(starts_at),
            duration_minutes,
            added_by,
            added_at: crate::time::utc(added_at),
        }
    }
}

/// Which of a person's sessions to read: those starting within `during` (from, until when
/// given) and after (`at`, session id), oldest first, at most `fetch`. The default: all.
#[derive(Default)]
pub struct Window {
    pub during: Option<(NaiveDateTime, Option<NaiveDateTime>)>,
    pub after: Option<(NaiveDateTime, String)>,
    pub fetch: Option<i64>,
}

/// The sessions the person attended, within `window`.
pub fn attended(
    conn: &mut DbConnection,
    migrant_id: &str,
    window: Window,
) -> QueryResult<Vec<SessionAttended>> {
    let Window {
        during,
        after,
        fetch,
    } = window;
    let mut q = group_session_attendees::table
        .inner_join(group_sessions::table)
        .filter(group_session_attendees::migrant_id.eq(migrant_id))
        .into_boxed();
    if let Some((from, until)) = during {
        q = q.filter(group_sessions::starts_at.ge(from));
        if let Some(until) = until {
            q = q.filter(group_sessions::starts_at.le(until));
        }
    }
    if let Some((at, id)) = after {
        q = q.filter(
            group_sessions::starts_at
                .gt(at)
                .or(group_sessions::starts_at
                    .eq(at)
                    .and(group_sessions::id.gt(id))),
        );
    }
    if let Some(fetch) = fetch {
        q = q.limit(fetch);
    }
    let rows: Vec<AttendedRow> = q
        .order((group_sessions::starts_at.asc(), group_sessions::id.asc()))
        .select((
            group_sessions::id,
            group_sessions::centre_id,
            group_sessions::kind,
            group_sessions::title,
            group_sessions::starts_at,
            group_sessions::duration_minutes,
            group_session_attendees::added_by,
            group_session_attendees::added_at,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(SessionAttended::from).collect())
}

/// What a person's anonymous tally keeps of them.
struct Profile {
    sex: Sex,
    date_of_birth: Option<NaiveDate>,
    birth_year: Option<i32>,
    migration_status: MigrationStatus,
}

impl Profile {
    /// The age band at `on`, computed like the reports do: from the birth date, else the age
    /// reached that birth year.
    fn age_band(&self, on: NaiveDate) -> Option<AgeBand> {
        let age = match (self.date_of_birth, self.birth_year) {
            (Some(born), _) => on.years_since(born).and_then(|y| i32::try_from(y).ok()),
            (None, Some(year)) => Some(on.year() - year),
            (None, None) => None,
        }?;
        Some(AgeBand::of_age(age))
    }
}

/// Erases the person's attendance before their record is anonymised: each of their
/// attendances moves into the session's anonymous tally for their sex, age band (at the
/// session) and migration status, so every session's total stays, and the link row goes.
/// The caller has locked the person's row, so no attendance can be added meanwhile.
pub fn erase(conn: &mut DbConnection, migrant_id: &str, now: NaiveDateTime) -> QueryResult<()> {
    let Some((sex, date_of_birth, birth_year, migration_status)) = migrants::table
        .find(migrant_id)
        .select((
            migrants::sex,
            migrants::date_of_birth,
            migrants::birth_year,
            migrants::migration_status,
        ))
        .first(conn)
        .optional()?
    else {
        return Ok(());
    };
    let profile = Profile {
        sex,
        date_of_birth,
        birth_year,
        migration_status,
    };
    let sessions: Vec<(String, NaiveDateTime)> = group_session_attendees::table
        .inner_join(group_sessions::table)
        .filter(group_session_attendees::migrant_id.eq(migrant_id))
        .select((group_sessions::id, group_sessions::starts_at))
        .load(conn)?;
    for (session_id, starts_at) in &sessions {
        count_in_tally(
            conn,
            session_id,
            &profile,
            profile.age_band(starts_at.date()),
        )?;
    }
    diesel::delete(
        group_session_attendees::table.filter(group_session_attendees::migrant_id.eq(migrant_id)),
    )
    .execute(conn)?;
    let ids: Vec<&str> = sessions.iter().map(|(id, _)| id.as_str()).collect();
    // A remembered key of a request that added the person may have been built from their
    // name; the answer it points at is the session, so every key pointing at one goes.
    let paths: Vec<String> = ids
        .iter()
        .map(|id| format!("{API_BASE}/group-sessions/{id}"))
        .collect();
    diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::content_location.eq_any(paths)),
    )
    .execute(conn)?;
    diesel::update(group_sessions::table.filter(group_sessions::id.eq_any(ids)))
        .set((
            group_sessions::version.eq(group_sessions::version + 1),
            group_sessions::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

fn count_in_tally(
    conn: &mut DbConnection,
    session_id: &str,
    profile: &Profile,
    age_band: Option<AgeBand>,
) -> QueryResult<()> {
    let same = group_session_tallies::table
        .filter(group_session_tallies::session_id.eq(session_id))
        .filter(group_session_tallies::sex.eq(profile.sex))
        .filter(group_session_tallies::migration_status.eq(profile.migration_status))
        .into_boxed();
    let same = match age_band {
        Some(band) => same.filter(group_session_tallies::age_band.eq(band)),
        None => same.filter(group_session_tallies::age_band.is_null()),
    };
    let existing: Option<String> = same
        .select(group_session_tallies::id)
        .first(conn)
        .optional()?;
    match existing {
        Some(id) => diesel::update(group_session_tallies::table.find(id))
            .set(group_session_tallies::count.eq(group_session_tallies::count + 1))
            .execute(conn)?,
        None => diesel::insert_into(group_session_tallies::table)
            .values((
                group_session_tallies::id.eq(uuid::Uuid::now_v7().to_string()),
                group_session_tallies::session_id.eq(session_id),
                group_session_tallies::sex.eq(profile.sex),
                group_session_tallies::age_band.eq(age_band),
                group_session_tallies::migration_status.eq(profile.migration_status),
                group_session_tallies::count.eq(1),
            ))
            .execute(conn)?,
    };
    Ok(())
}
