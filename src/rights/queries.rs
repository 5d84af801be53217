//! The person's data, read part by part (one query per part), and its erasure.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::model::*;
use crate::cases::model::{Case, CaseEventKind, CaseResponse};
use crate::db::schema::{
    audit_event_subjects, audit_events, case_events, cases, consultations, follow_ups,
    idempotency_keys, migrant_consent_events, migrant_name_tokens, migrants, referral_transitions,
    referrals,
};
use crate::db::DbConnection;
use crate::follow_ups::model::{FollowUp, FollowUpResponse};
use crate::http::representation::API_BASE;
use crate::migrants::model::{ConsentScope, MigrantResponse};
use crate::reports::facts::{self, Refresh};

/// Everything held about the person, `migrant` being their record as the caller loaded it.
pub fn export(conn: &mut DbConnection, migrant: MigrantResponse) -> QueryResult<MigrantExport> {
    let id = migrant.id.clone();
    let now = crate::time::now();
    let consultation_rows = consultations::table
        .filter(consultations::migrant_id.eq(&id))
        .order(consultations::id.asc())
        .load(conn)?;
    let referral_rows = referrals::table
        .filter(referrals::migrant_id.eq(&id))
        .order(referrals::id.asc())
        .load(conn)?;
    let follow_ups = follow_ups::table
        .filter(follow_ups::case_id.eq_any(case_ids(&id)))
        .order(follow_ups::id.asc())
        .load::<FollowUp>(conn)?
        .into_iter()
        .map(|f| FollowUpResponse::new(f, now))
        .collect();
    Ok(MigrantExport {
        exported_at: crate::time::utc(now),
        consent_history: consent_history(conn, &id)?,
        cases: cases_with_events(conn, &id)?,
        consultations: crate::consultations::queries::responses(conn, consultation_rows)?,
        referrals: crate::referrals::queries::responses(conn, referral_rows)?,
        follow_ups,
        group_sessions: crate::group_sessions::attendance::attended(conn, &id, Default::default())?,
        access_log: access_log(conn, &id)?,
        migrant,
    })
}

type CaseIds<'a> = diesel::dsl::Select<
    diesel::dsl::Filter<cases::table, diesel::dsl::Eq<cases::migrant_id, &'a str>>,
    cases::id,
>;

/// The ids of the person's cases, as a subquery (by `cases_migrant_idx`).
fn case_ids(migrant_id: &str) -> CaseIds<'_> {
    cases::table
        .filter(cases::migrant_id.eq(migrant_id))
        .select(cases::id)
}

fn consent_history(conn: &mut DbConnection, migrant_id: &str) -> QueryResult<Vec<ConsentEvent>> {
    let rows: Vec<(ConsentScope, bool, NaiveDateTime, String)> = migrant_consent_events::table
        .filter(migrant_consent_events::migrant_id.eq(migrant_id))
        .order((
            migrant_consent_events::at.asc(),
            migrant_consent_events::id.asc(),
        ))
        .select((
            migrant_consent_events::scope,
            migrant_consent_events::given,
            migrant_consent_events::at,
            migrant_consent_events::recorded_by,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(scope, given, at, recorded_by)| ConsentEvent {
            scope,
            given,
            at: crate::time::utc(at),
            recorded_by,
        })
        .collect())
}

type CaseEventRow = (
    String,
    String,
    NaiveDateTime,
    String,
    CaseEventKind,
    Option<String>,
    Option<String>,
);

/// The person's cases and all their events: two queries.
fn cases_with_events(conn: &mut DbConnection, migrant_id: &str) -> QueryResult<Vec<CaseExport>> {
    let rows: Vec<Case> = cases::table
        .filter(cases::migrant_id.eq(migrant_id))
        .order(cases::id.asc())
        .load(conn)?;
    let events: Vec<CaseEventRow> = case_events::table
        .filter(case_events::case_id.eq_any(case_ids(migrant_id)))
        .order((case_events::at.asc(), case_events::id.asc()))
        .select((
            case_events::case_id,
            case_events::id,
            case_events::at,
            case_events::actor_id,
            case_events::kind,
            case_events::assigned_to,
            case_events::note,
        ))
        .load(conn)?;
    let mut by_case: HashMap<String, Vec<CaseEvent>> = HashMap::new();
    for (case_id, id, at, actor_id, kind, assigned_to, note) in events {
        by_case.entry(case_id).or_default().push(CaseEvent {
            id,
            at: crate::time::utc(at),
            actor_id,
            kind,
            assigned_to,
            note,
        });
    }
    Ok(rows
        .into_iter()
        .map(|case| CaseExport {
            events: by_case.remove(&case.id).unwrap_or_default(),
            case: CaseResponse::from(case),
        })
        .collect())
}

type AccessRow = (
    String,
    NaiveDateTime,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

/// Every audit event naming the person, oldest first (an index range scan).
fn access_log(conn: &mut DbConnection, migrant_id: &str) -> QueryResult<Vec<AccessLogEntry>> {
    let rows: Vec<AccessRow> = audit_event_subjects::table
        .inner_join(audit_events::table)
        .filter(audit_event_subjects::migrant_id.eq(migrant_id))
        .order(audit_event_subjects::event_id.asc())
        .select((
            audit_events::id,
            audit_events::at,
            audit_events::actor_id,
            audit_events::actor_username,
            audit_events::action,
            audit_events::endpoint,
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(
            |(event_id, at, actor_id, actor_username, action, endpoint)| AccessLogEntry {
                event_id,
                at: crate::time::utc(at),
                actor_id,
                actor_username,
                action,
                endpoint,
            },
        )
        .collect())
}

/// Erases the person for good, in the caller's transaction: names, phone, exact birth date and
/// region go (birth year, sex, nationality, migration status, destination, vulnerabilities and
/// consent dates stay, so reports keep counting them); name-search tokens go; every free text
/// about them (case summaries and events, consultation notes and outcomes, referral reasons,
/// outcomes and notes, follow-up notes and outcomes) becomes [`PLACEHOLDER`]; remembered
/// Idempotency-Key answers pointing at their records go. Rows keep their ids, dates and
/// statuses, and their version moves on so that syncing clients drop their copies.
///
/// `false` when the person was anonymised already: the first write is conditional on that, so
/// of two concurrent anonymisations one waits for the other's row lock and then does nothing.
pub fn anonymise(
    conn: &mut DbConnection,
    migrant_id: &str,
    by: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    // Attendance turns into the sessions' anonymous tallies, which need the person's age band,
    // so it goes before the birth date does; the row lock keeps new attendance out meanwhile.
    let live = migrants::table
        .filter(migrants::id.eq(migrant_id))
        .filter(migrants::anonymised_at.is_null());
    if diesel::update(live)
        .set(migrants::version.eq(migrants::version))
        .execute(conn)?
        == 1
    {
        crate::group_sessions::attendance::erase(conn, migrant_id, now)?;
    }
    let erased = diesel::update(
        migrants::table
            .filter(migrants::id.eq(migrant_id))
            .filter(migrants::anonymised_at.is_null()),
    )
    .set((
        migrants::given_name.eq(PLACEHOLDER),
        migrants::family_name.eq(PLACEHOLDER),
        migrants::patronymic.eq(None::<String>),
        migrants::date_of_birth.eq(None::<chrono::NaiveDate>),
        migrants::region_of_origin.eq(None::<String>),
        migrants::phone.eq(None::<String>),
        migrants::anonymised_at.eq(now),
        migrants::anonymised_by.eq(by),
        migrants::version.eq(migrants::version + 1),
        migrants::updated_at.eq(now),
    ))
    .execute(conn)?;
    if erased == 0 {
        return Ok(false);
    }
    diesel::delete(
        migrant_name_tokens::table.filter(migrant_name_tokens::migrant_id.eq(migrant_id)),
    )
    .execute(conn)?;
    let paths = forget_replays_paths(conn, migrant_id)?;
    diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::content_location.eq_any(&paths)),
    )
    .execute(conn)?;
    erase_cases(conn, migrant_id, now)?;
    erase_consultations(conn, migrant_id, now)?;
    erase_referrals(conn, migrant_id, now)?;
    erase_follow_ups(conn, migrant_id, now)?;
    // The birth date is gone: age bands now come from the birth year.
    facts::refresh(conn, Refresh::Person(migrant_id))?;
    Ok(true)
}

/// The paths of the person's record and of every record about them: what a remembered
/// Idempotency-Key answer points at.
fn forget_replays_paths(conn: &mut DbConnection, migrant_id: &str) -> QueryResult<Vec<String>> {
    let cases: Vec<String> = case_ids(migrant_id).load(conn)?;
    let consultations: Vec<String> = consultations::table
        .filter(consultations::migrant_id.eq(migrant_id))
        .select(consultations::id)
        .load(conn)?;
    let referrals: Vec<String> = referrals::table
        .filter(referrals::migrant_id.eq(migrant_id))
        .select(referrals::id)
        .load(conn)?;
    let follow_ups: Vec<String> = follow_ups::table
        .filter(follow_ups::case_id.eq_any(case_ids(migrant_id)))
        .select(follow_ups::id)
        .load(conn)?;
    let path = |collection: &str, id: &str| format!("{API_BASE}/{collection}/{id}");
    let mut paths = vec![path("migrants", migrant_id)];
    paths.extend(cases.iter().map(|id| path("cases", id)));
    paths.extend(consultations.iter().map(|id| path("consultations", id)));
    paths.extend(referrals.iter().map(|id| path("referrals", id)));
    paths.extend(follow_ups.iter().map(|id| path("follow-ups", id)));
    Ok(paths)
}

fn erase_cases(
    conn: &mut DbConnection,
    migrant_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mine = cases::table.filter(cases::migrant_id.eq(migrant_id));
    diesel::update(mine.filter(cases::closure_reason.is_not_null()))
        .set(cases::closure_reason.eq(PLACEHOLDER))
        .execute(conn)?;
    diesel::update(
        case_events::table
            .filter(case_events::case_id.eq_any(case_ids(migrant_id)))
            .filter(case_events::note.is_not_null()),
    )
    .set(case_events::note.eq(PLACEHOLDER))
    .execute(conn)?;
    diesel::update(mine)
        .set((
            cases::summary.eq(PLACEHOLDER),
            cases::version.eq(cases::version + 1),
            cases::updated_at.eq(now),
        ))
        .execute(conn)
}

fn erase_consultations(
    conn: &mut DbConnection,
    migrant_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mine = consultations::table.filter(consultations::migrant_id.eq(migrant_id));
    diesel::update(mine.filter(consultations::outcome.is_not_null()))
        .set(consultations::outcome.eq(PLACEHOLDER))
        .execute(conn)?;
    diesel::update(mine)
        .set((
            consultations::notes.eq(PLACEHOLDER),
            consultations::version.eq(consultations::version + 1),
            consultations::updated_at.eq(now),
        ))
        .execute(conn)
}

fn erase_referrals(
    conn: &mut DbConnection,
    migrant_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mine = referrals::table.filter(referrals::migrant_id.eq(migrant_id));
    diesel::update(mine.filter(referrals::outcome.is_not_null()))
        .set(referrals::outcome.eq(PLACEHOLDER))
        .execute(conn)?;
    diesel::update(
        referral_transitions::table
            .filter(referral_transitions::referral_id.eq_any(mine.select(referrals::id)))
            .filter(referral_transitions::note.is_not_null()),
    )
    .set(referral_transitions::note.eq(PLACEHOLDER))
    .execute(conn)?;
    diesel::update(mine)
        .set((
            referrals::reason.eq(PLACEHOLDER),
            referrals::version.eq(referrals::version + 1),
            referrals::updated_at.eq(now),
        ))
        .execute(conn)
}

fn erase_follow_ups(
    conn: &mut DbConnection,
    migrant_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let mine = || follow_ups::table.filter(follow_ups::case_id.eq_any(case_ids(migrant_id)));
    diesel::update(mine().filter(follow_ups::note.is_not_null()))
        .set(follow_ups::note.eq(PLACEHOLDER))
        .execute(conn)?;
    diesel::update(mine().filter(follow_ups::outcome.is_not_null()))
        .set(follow_ups::outcome.eq(PLACEHOLDER))
        .execute(conn)?;
    diesel::update(mine())
        .set((
            follow_ups::version.eq(follow_ups::version + 1),
            follow_ups::updated_at.eq(now),
        ))
        .execute(conn)
}
