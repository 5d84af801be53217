//! Referral queries used by other domains (closing a case, caseloads).

use diesel::prelude::*;

use crate::audit::Event;
use crate::auth::roles::CentreStaff;
use crate::db::schema::{referral_transitions, referrals};
use crate::db::versioned::Versioned;
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::referrals::model::{Referral, ReferralStatus};

/// Statuses from which a referral can still move on.
pub const OPEN_STATUSES: [ReferralStatus; 3] = [
    ReferralStatus::Pending,
    ReferralStatus::Sent,
    ReferralStatus::Accepted,
];

/// Statuses that wait for the provider's answer (and so can be overdue).
pub const WAITING_STATUSES: [ReferralStatus; 2] = [ReferralStatus::Pending, ReferralStatus::Sent];

/// (id, status) of the case's open referrals.
pub fn open_for_case(
    conn: &mut DbConnection,
    case_id: &str,
) -> QueryResult<Vec<(String, ReferralStatus)>> {
    referrals::table
        .filter(referrals::case_id.eq(case_id))
        .filter(referrals::status.eq_any(OPEN_STATUSES))
        .order(referrals::id.asc())
        .select((referrals::id, referrals::status))
        .load(conn)
}

pub fn record_transition(
    conn: &mut DbConnection,
    referral_id: &str,
    from: Option<ReferralStatus>,
    to: ReferralStatus,
    actor_id: &str,
    note: Option<&str>,
    at: chrono::NaiveDateTime,
) -> QueryResult<()> {
    diesel::insert_into(referral_transitions::table)
        .values((
            referral_transitions::id.eq(uuid::Uuid::now_v7().to_string()),
            referral_transitions::referral_id.eq(referral_id),
            referral_transitions::from_status.eq(from),
            referral_transitions::to_status.eq(to),
            referral_transitions::at.eq(at),
            referral_transitions::actor_id.eq(actor_id),
            referral_transitions::note.eq(note),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Cancels those of the given referrals still open, keeping the move in their history with
/// `note`. 409 when one of them changes meanwhile (the caller did not read it with an
/// `If-Match`).
pub fn cancel(
    conn: &mut DbConnection,
    staff: &CentreStaff,
    migrant_id: &str,
    ids: &[String],
    note: &str,
) -> Result<(), ApiError> {
    let open: Vec<Referral> = referrals::table
        .filter(referrals::id.eq_any(ids))
        .filter(referrals::status.eq_any(OPEN_STATUSES))
        .order(referrals::id.asc())
        .load(conn)?;
    for mut referral in open {
        let from = referral.status;
        referral.status = ReferralStatus::Cancelled;
        if !referral.try_save(conn)? {
            return Err(ApiError::conflict(
                "a referral of the case changed meanwhile; try again",
            ));
        }
        record_transition(
            conn,
            &referral.id,
            Some(from),
            ReferralStatus::Cancelled,
            &staff.id,
            Some(note),
            referral.updated_at,
        )?;
        Event::new("referral.transition", "referral", Some(&referral.id))
            .by(staff)
            .centre(Some(&staff.centre_id))
            .subject(Some(migrant_id))
            .changed(vec!["status"])
            .record(conn)?;
    }
    Ok(())
}

#[derive(Queryable)]
struct TransitionRow {
    referral_id: String,
    from_status: Option<ReferralStatus>,
    to_status: ReferralStatus,
    at: chrono::NaiveDateTime,
    actor_id: String,
    note: Option<String>,
}

/// Status histories of a page of referrals, in one query.
pub fn histories(
    conn: &mut DbConnection,
    ids: &[&str],
) -> QueryResult<std::collections::HashMap<String, Vec<super::model::Transition>>> {
    use super::model::Transition;
    let rows: Vec<TransitionRow> = referral_transitions::table
        .filter(referral_transitions::referral_id.eq_any(ids))
        .order((
            referral_transitions::at.asc(),
            referral_transitions::id.asc(),
        ))
        .select((
            referral_transitions::referral_id,
            referral_transitions::from_status,
            referral_transitions::to_status,
            referral_transitions::at,
            referral_transitions::actor_id,
            referral_transitions::note,
        ))
        .load(conn)?;
    let mut histories: std::collections::HashMap<String, Vec<Transition>> = Default::default();
    for row in rows {
        histories
            .entry(row.referral_id)
            .or_default()
            .push(Transition {
                from: row.from_status,
                to: row.to_status,
                at: crate::time::utc(row.at),
                by: row.actor_id,
                note: row.note,
            });
    }
    Ok(histories)
}

/// Responses for a page of referrals (histories in one extra query).
pub fn responses(
    conn: &mut DbConnection,
    rows: Vec<super::model::Referral>,
) -> QueryResult<Vec<super::model::ReferralResponse>> {
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut histories = histories(conn, &ids)?;
    let today = chrono::Utc::now().date_naive();
    Ok(rows
        .into_iter()
        .map(|r| {
            let history = histories.remove(&r.id).unwrap_or_default();
            super::model::ReferralResponse::new(r, history, today)
        })
        .collect())
}
