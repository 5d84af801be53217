//! `GET /cases/{id}/timeline`: everything that happened on a case, in one chronological list —
//! case events (opened, assigned, closed, reopened), consultations, referral moves,
//! follow-ups (at their due time) and the group sessions the person attended while the case
//! was open (at their start). Keyset-paginated over (time, id): each source reads at most
//! one page after the cursor, so a page costs a fixed number of queries.

use actix_web::{get, web};
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl;
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::access::load_visible;
use super::model::{Case, CaseEventKind};
use crate::audit::Event;
use crate::auth::roles::CentreStaff;
use crate::consultations::model::{Consultation, ConsultationResponse};
use crate::db::schema::{case_events, consultations, follow_ups, referral_transitions, referrals};
use crate::db::DbConnection;
use crate::error::ApiError;
use crate::follow_ups::model::{FollowUpKind, FollowUpStatus};
use crate::group_sessions::attendance::{attended, SessionAttended, Window};
use crate::http::pagination::{decode_cursor, CursorTime};
use crate::http::{Page, PageLimit, Query};
use crate::referrals::model::ReferralStatus;
use crate::state::AppState;

crate::text_enum!(
    TimelineKind {
        CaseEvent => "case_event",
        Consultation => "consultation",
        ReferralMove => "referral_move",
        FollowUp => "follow_up",
        GroupSession => "group_session",
    }
);

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CaseEventItem {
    /// `opened`, `assigned`, `closed` or `reopened`.
    pub kind: String,
    pub assigned_to: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReferralMove {
    pub referral_id: String,
    pub provider_id: String,
    /// `null` when the referral was created.
    pub from: Option<String>,
    pub to: String,
    pub note: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FollowUpItem {
    pub kind: String,
    pub status: String,
    pub assigned_to: String,
    pub note: Option<String>,
    pub outcome: Option<String>,
}

/// One thing that happened on a case. Exactly one of the detail fields is set, named by `kind`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    pub at: DateTime<Utc>,
    pub kind: TimelineKind,
    /// Id of the event, consultation, referral transition, follow-up or group session.
    pub id: String,
    pub actor_id: Option<String>,
    pub case_event: Option<CaseEventItem>,
    pub consultation: Option<ConsultationResponse>,
    pub referral_move: Option<ReferralMove>,
    pub follow_up: Option<FollowUpItem>,
    pub group_session: Option<SessionAttended>,
}

impl TimelineEntry {
    fn new(at: NaiveDateTime, kind: TimelineKind, id: String, actor_id: Option<String>) -> Self {
        Self {
            at: crate::time::utc(at),
            kind,
            id,
            actor_id,
            case_event: None,
            consultation: None,
            referral_move: None,
            follow_up: None,
            group_session: None,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Queryable)]
struct CaseEventRow {
    id: String,
    at: NaiveDateTime,
    actor_id: String,
    kind: CaseEventKind,
    assigned_to: Option<String>,
    note: Option<String>,
}

#[derive(Queryable)]
struct ReferralMoveRow {
    id: String,
    at: NaiveDateTime,
    actor_id: String,
    from: Option<ReferralStatus>,
    to: ReferralStatus,
    note: Option<String>,
    referral_id: String,
    provider_id: String,
}

#[derive(Queryable)]
struct FollowUpRow {
    id: String,
    due_at: NaiveDateTime,
    created_by: String,
    kind: FollowUpKind,
    status: FollowUpStatus,
    assigned_to: String,
    note: Option<String>,
    outcome: Option<String>,
}

/// Where a page starts: every source reads at most `fetch` entries strictly after (`at`, `id`).
struct After {
    at: NaiveDateTime,
    id: String,
    fetch: i64,
}

type AfterFilter<At, Id> =
    dsl::Or<dsl::Gt<At, NaiveDateTime>, dsl::And<dsl::Eq<At, NaiveDateTime>, dsl::Gt<Id, String>>>;

impl After {
    /// `(at, id) > (self.at, self.id)` over one source's time and id columns.
    fn filter<At, Id>(&self, at: At, id: Id) -> AfterFilter<At, Id>
    where
        At: Expression<SqlType = Timestamp> + Copy,
        Id: Expression<SqlType = Text>,
    {
        at.gt(self.at)
            .or(at.eq(self.at).and(id.gt(self.id.clone())))
    }
}

/// The case's history, oldest first.
#[utoipa::path(
    tag = "cases",
    params(("id" = String, Path, description = "Case id"), TimelineQuery),
    responses((status = 200, description = "A page of the timeline", body = Page<TimelineEntry>)),
    security(("bearer" = ["counsellor", "supervisor"]))
)]
#[get("/cases/{id}/timeline")]
pub async fn case_timeline(
    state: web::Data<AppState>,
    staff: CentreStaff,
    id: web::Path<String>,
    query: Query<TimelineQuery>,
) -> Result<web::Json<Page<TimelineEntry>>, ApiError> {
    let id = id.into_inner();
    let query = query.into_inner();
    let limit = PageLimit::parse(query.limit)?;
    let cursor: Option<(CursorTime, String)> = decode_cursor(query.cursor.as_deref())?;
    // The first page starts before every entry a client could have written.
    let (CursorTime(at), after_id) =
        cursor.unwrap_or((CursorTime(crate::time::earliest()), String::new()));
    let after = After {
        at,
        id: after_id,
        fetch: limit.fetch(),
    };
    let page = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        let case = load_visible(conn, &staff, &id)?;
        let entries = merge(
            [
                case_events_after(conn, &case.id, &after)?,
                consultations_after(conn, &case.id, &after)?,
                referral_moves_after(conn, &case.id, &after)?,
                follow_ups_after(conn, &case.id, &after)?,
                sessions_attended_after(conn, &case, &after)?,
            ],
            after.fetch,
        );
        Event::new("case.read_timeline", "case", Some(&case.id))
            .by(&staff)
            .centre(Some(&case.centre_id))
            .subject(Some(&case.migrant_id))
            .defer(seen);
        Ok(Page::from_rows(entries, limit, |e| {
            (e.at.naive_utc(), e.id.clone())
        }))
    })
    .await?;
    Ok(web::Json(page))
}

/// The first `fetch` entries of all sources together, in (time, id) order.
fn merge(sources: [Vec<TimelineEntry>; 5], fetch: i64) -> Vec<TimelineEntry> {
    let mut entries: Vec<TimelineEntry> = sources.into_iter().flatten().collect();
    entries.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    entries.truncate(usize::try_from(fetch).unwrap_or(usize::MAX));
    entries
}

fn case_events_after(
    conn: &mut DbConnection,
    case_id: &str,
    after: &After,
) -> QueryResult<Vec<TimelineEntry>> {
    let rows: Vec<CaseEventRow> = case_events::table
        .filter(case_events::case_id.eq(case_id))
        .filter(after.filter(case_events::at, case_events::id))
        .order((case_events::at.asc(), case_events::id.asc()))
        .limit(after.fetch)
        .select((
            case_events::id,
            case_events::at,
            case_events::actor_id,
            case_events::kind,
            case_events::assigned_to,
            case_events::note,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(TimelineEntry::from).collect())
}

fn consultations_after(
    conn: &mut DbConnection,
    case_id: &str,
    after: &After,
) -> QueryResult<Vec<TimelineEntry>> {
    let rows: Vec<Consultation> = consultations::table
        .filter(consultations::case_id.eq(case_id))
        .filter(after.filter(consultations::occurred_at, consultations::id))
        .order((consultations::occurred_at.asc(), consultations::id.asc()))
        .limit(after.fetch)
        .load(conn)?;
    let responses = crate::consultations::queries::responses(conn, rows)?;
    Ok(responses.into_iter().map(TimelineEntry::from).collect())
}

fn referral_moves_after(
    conn: &mut DbConnection,
    case_id: &str,
    after: &After,
) -> QueryResult<Vec<TimelineEntry>> {
    let rows: Vec<ReferralMoveRow> = referral_transitions::table
        .inner_join(referrals::table)
        .filter(referrals::case_id.eq(case_id))
        .filter(after.filter(referral_transitions::at, referral_transitions::id))
        .order((
            referral_transitions::at.asc(),
            referral_transitions::id.asc(),
        ))
        .limit(after.fetch)
        .select((
            referral_transitions::id,
            referral_transitions::at,
            referral_transitions::actor_id,
            referral_transitions::from_status,
            referral_transitions::to_status,
            referral_transitions::note,
            referrals::id,
            referrals::provider_id,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(TimelineEntry::from).collect())
}

/// Follow-ups stand on the timeline at their due time.
fn follow_ups_after(
    conn: &mut DbConnection,
    case_id: &str,
    after: &After,
) -> QueryResult<Vec<TimelineEntry>> {
    let rows: Vec<FollowUpRow> = follow_ups::table
        .filter(follow_ups::case_id.eq(case_id))
        .filter(after.filter(follow_ups::due_at, follow_ups::id))
        .order((follow_ups::due_at.asc(), follow_ups::id.asc()))
        .limit(after.fetch)
        .select((
            follow_ups::id,
            follow_ups::due_at,
            follow_ups::created_by,
            follow_ups::kind,
            follow_ups::status,
            follow_ups::assigned_to,
            follow_ups::note,
            follow_ups::outcome,
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(TimelineEntry::from).collect())
}

/// The group sessions the case's person attended while the case was open, at their start.
fn sessions_attended_after(
    conn: &mut DbConnection,
    case: &Case,
    after: &After,
) -> QueryResult<Vec<TimelineEntry>> {
    let window = Window {
        during: Some((case.opened_at, case.closed_at)),
        after: Some((after.at, after.id.clone())),
        fetch: Some(after.fetch),
    };
    let sessions = attended(conn, &case.migrant_id, window)?;
    Ok(sessions.into_iter().map(TimelineEntry::from).collect())
}

impl From<SessionAttended> for TimelineEntry {
    fn from(s: SessionAttended) -> Self {
        let mut entry = Self::new(
            s.starts_at.naive_utc(),
            TimelineKind::GroupSession,
            s.session_id.clone(),
            Some(s.added_by.clone()),
        );
        entry.group_session = Some(s);
        entry
    }
}

impl From<CaseEventRow> for TimelineEntry {
    fn from(e: CaseEventRow) -> Self {
        let mut entry = Self::new(e.at, TimelineKind::CaseEvent, e.id, Some(e.actor_id));
        entry.case_event = Some(CaseEventItem {
            kind: e.kind.as_str().to_owned(),
            assigned_to: e.assigned_to,
            note: e.note,
        });
        entry
    }
}

impl From<ConsultationResponse> for TimelineEntry {
    fn from(consultation: ConsultationResponse) -> Self {
        let mut entry = Self::new(
            consultation.occurred_at.naive_utc(),
            TimelineKind::Consultation,
            consultation.id.clone(),
            Some(consultation.counsellor_id.clone()),
        );
        entry.consultation = Some(consultation);
        entry
    }
}

impl From<ReferralMoveRow> for TimelineEntry {
    fn from(m: ReferralMoveRow) -> Self {
        let mut entry = Self::new(m.at, TimelineKind::ReferralMove, m.id, Some(m.actor_id));
        entry.referral_move = Some(ReferralMove {
            referral_id: m.referral_id,
            provider_id: m.provider_id,
            from: m.from.map(|s| s.as_str().to_owned()),
            to: m.to.as_str().to_owned(),
            note: m.note,
        });
        entry
    }
}

impl From<FollowUpRow> for TimelineEntry {
    fn from(f: FollowUpRow) -> Self {
        let mut entry = Self::new(f.due_at, TimelineKind::FollowUp, f.id, Some(f.created_by));
        entry.follow_up = Some(FollowUpItem {
            kind: f.kind.as_str().to_owned(),
            status: f.status.as_str().to_owned(),
            assigned_to: f.assigned_to,
            note: f.note,
            outcome: f.outcome,
        });
        entry
    }
}
