//! Who may see which migrant. The one place these rules live; every query applies them in SQL.
//!
//! - Search (identifying summary): counsellors and supervisors, own centre.
//! - Full record (read, update): supervisors, own centre; counsellors, the people they
//!   registered, hold a case for, or have counselled.
//! - Admins never see personal data.
//!
//! A migrant of another centre answers 404; one of the caller's centre that a counsellor may only
//! find in search answers 403 (search already tells them the person exists).
//!
//! A counsellor who logs a consultation with someone, or opens a case for them, gains their full
//! record: the walk-in workflow. Each such grant is audited as `migrant.access_granted`.

use chrono::NaiveDateTime;
use diesel::dsl::exists;
use diesel::prelude::*;
use diesel::sql_types::Bool;

use super::model::Migrant;
use crate::audit::Event;
use crate::auth::roles::{CentreRole, CentreStaff};
use crate::db::schema::{cases, consultations, migrants};
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;

pub type MigrantFilter = Box<dyn BoxableExpression<migrants::table, MultiBackend, SqlType = Bool>>;

/// The migrants whose full record the caller may read and update.
pub fn full_access(staff: &CentreStaff) -> MigrantFilter {
    let centre = staff.centre_id.clone();
    match staff.role {
        CentreRole::Supervisor => Box::new(migrants::centre_id.eq(centre)),
        CentreRole::Counsellor => {
            let me = staff.id.clone();
            Box::new(
                migrants::centre_id.eq(centre).and(
                    migrants::registered_by
                        .eq(me.clone())
                        .or(exists(
                            cases::table
                                .filter(cases::migrant_id.eq(migrants::id))
                                .filter(cases::assigned_to.eq(me.clone())),
                        ))
                        .or(exists(
                            consultations::table
                                .filter(consultations::migrant_id.eq(migrants::id.nullable()))
                                .filter(consultations::counsellor_id.eq(me)),
                        )),
                ),
            )
        }
    }
}

/// A migrant of the caller's centre (search scope): 404 otherwise, 410 once anonymised (the
/// record is gone for good; the id still counts in statistics).
pub fn load_in_centre(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<Migrant, ApiError> {
    let (migrant, anonymised_at) = migrants::table
        .filter(migrants::id.eq(id))
        .filter(migrants::centre_id.eq(&staff.centre_id))
        .select((Migrant::as_select(), migrants::anonymised_at))
        .first::<(Migrant, Option<NaiveDateTime>)>(conn)
        .optional()?
        .ok_or_else(|| ApiError::not_found("migrant"))?;
    match anonymised_at {
        Some(_) => Err(anonymised()),
        None => Ok(migrant),
    }
}

/// The answer for anything that would show or change an anonymised person.
pub fn anonymised() -> ApiError {
    ApiError::gone("this person's record was anonymised; it can no longer be read or changed")
}

/// 410 when the person was anonymised: for writes on their remaining (closed) cases and
/// consultations, which would otherwise let personal data back in.
pub fn refuse_if_anonymised(conn: &mut DbConnection, migrant_id: &str) -> Result<(), ApiError> {
    match lock_unless_anonymised(conn, migrant_id, None)? {
        true => Ok(()),
        false => Err(anonymised()),
    }
}

/// Whether the person exists (in `centre`, when given) and is not anonymised, locking their row
/// until the transaction ends: anonymisation locks the row first, so a write that attaches
/// something to the person waits for it and then sees it, and nothing can escape the erasure by
/// being written at the same moment. One cached statement for both cases (`centre_id = ? OR ?`).
fn lock_unless_anonymised(
    conn: &mut DbConnection,
    migrant_id: &str,
    centre: Option<&str>,
) -> QueryResult<bool> {
    let live = migrants::table
        .filter(migrants::id.eq(migrant_id))
        .filter(migrants::anonymised_at.is_null())
        .filter(
            migrants::centre_id
                .eq(centre.unwrap_or_default())
                .or(centre.is_none().into_sql::<Bool>()),
        )
        .select(migrants::id);
    let found = match conn {
        DbConnection::Postgresql(pg) => live.for_update().first::<String>(pg).optional()?,
        // Writes on SQLite run in `BEGIN IMMEDIATE` transactions (`db::write_transaction`),
        // which hold the database's only write lock from their first statement: a read is
        // enough, and rewriting the row would add a page to every commit.
        DbConnection::Sqlite(sqlite) => live.first::<String>(sqlite).optional()?,
    };
    Ok(found.is_some())
}

/// 422 naming `migrant_id` unless the person is registered in the caller's centre (and not
/// anonymised): for writes that name a person (a case, a consultation) rather than address them.
pub fn require_registered_here(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    migrant_id: &str,
) -> Result<(), ApiError> {
    if lock_unless_anonymised(conn, migrant_id, Some(&staff.centre_id))? {
        Ok(())
    } else {
        Err(ApiError::unprocessable_field(
            "migrant_id",
            "no migrant with this id is registered in your centre",
        ))
    }
}

/// The people among `ids` registered in the caller's centre and not anonymised, each locked
/// until the transaction ends like [`require_registered_here`] locks one: for writes that list
/// people (a group session's attendees). The caller names the ones missing, whether they exist
/// elsewhere or not.
pub fn lock_registered_here(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    ids: &[String],
) -> QueryResult<Vec<String>> {
    let live = || {
        migrants::table
            .filter(migrants::id.eq_any(ids))
            .filter(migrants::centre_id.eq(&staff.centre_id))
            .filter(migrants::anonymised_at.is_null())
    };
    diesel::update(live())
        .set(migrants::version.eq(migrants::version))
        .execute(conn)?;
    live().select(migrants::id).load(conn)
}

/// Whether the caller may read the person's full record.
pub fn has_full_access(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> QueryResult<bool> {
    let allowed = migrants::table
        .filter(migrants::id.eq(id))
        .filter(full_access(staff))
        .count()
        .get_result::<i64>(conn)?;
    Ok(allowed == 1)
}

/// Call before a write that makes the caller the person's counsellor (logging a consultation
/// with them, opening a case of their own): when it returns true, the write grants the full
/// record, and [`record_access_granted`] must say so once it is done.
pub fn write_grants_access(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    migrant_id: &str,
) -> QueryResult<bool> {
    Ok(staff.is_counsellor() && !has_full_access(conn, staff, migrant_id)?)
}

/// The audit event of a counsellor gaining a person's full record through their own write, so
/// supervisors can review who widened their access (`GET audit-events?action=`).
pub fn record_access_granted(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    migrant_id: &str,
) -> QueryResult<()> {
    Event::new("migrant.access_granted", "migrant", Some(migrant_id))
        .by(staff)
        .centre(Some(&staff.centre_id))
        .subject(Some(migrant_id))
        .record(conn)
}

/// A migrant whose full record the caller may use: 404 outside the centre, 403 when only
/// searchable.
pub fn load_full(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    id: &str,
) -> Result<Migrant, ApiError> {
    let migrant = load_in_centre(conn, staff, id)?;
    if has_full_access(conn, staff, id)? {
        Ok(migrant)
    } else {
        Err(ApiError::forbidden(
            "this person is not in your caseload; log a consultation with them or ask your supervisor",
        ))
    }
}
