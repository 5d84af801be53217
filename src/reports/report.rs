//! The pipeline every report runs through: scope, one aggregate statement, audit, disclosure
//! control, then JSON or streamed CSV. A report supplies only what differs ([`Kind`]).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::QueryableByName;
use serde::Serialize;

use super::access::{check_centre, scope, Scope};
use super::disclosure::suppressed;
use super::model::{shown, Dimension, Period};
use super::sql::HasKeys;
use crate::audit::Event;
use crate::auth::roles::Manager;
use crate::db::{DbConnection, MultiBackend};
use crate::error::ApiError;
use crate::state::AppState;

/// What one report is: its dimensions, its statement, and how its lines become typed rows.
pub trait Kind: Sized + 'static {
    type Dim: Dimension;
    type Line: HasKeys + QueryableByName<MultiBackend> + Send + 'static;
    type Row: Serialize + Send + 'static;
    type Counts: Serialize + Send + 'static;
    type Report: Serialize + Send + 'static;
    /// In the audit action (`report.<name>`), the parameters and the CSV file name.
    const NAME: &'static str;
    /// The count columns of a CSV row, in order (`suppressed` follows).
    const COUNTS: &'static [&'static str];

    /// Runs the report's one statement: grouped lines, the total line last.
    fn load(
        conn: &mut DbConnection,
        period: &Period<Self::Dim>,
        centre: Option<&str>,
    ) -> Result<Vec<Self::Line>, ApiError>;
    /// The line's people (what disclosure control counts) and records (to break ties).
    fn tallies(line: &Self::Line) -> (i64, i64);
    fn counts(line: &Self::Line, hidden: bool) -> Self::Counts;
    /// A row with these counts and no dimension set yet.
    fn row(counts: Self::Counts) -> Self::Row;
    /// Puts a dimension's stored value (and label) into its field.
    fn set(
        row: &mut Self::Row,
        dim: Self::Dim,
        value: Option<&str>,
        label: Option<&str>,
    ) -> Result<(), ApiError>;
    fn report(built: Built<Self>) -> Self::Report;
}

/// A report's rows and total, after disclosure control.
pub struct Built<K: Kind> {
    pub period: Period<K::Dim>,
    pub scope: Scope,
    pub rows: Vec<K::Row>,
    pub total: K::Counts,
    /// Records left out of the rows because their person did not consent to statistics;
    /// `None` when the total is hidden.
    pub not_disaggregated: Option<i64>,
}

/// Answers a checked report request for `K`.
pub async fn respond<K: Kind>(
    state: web::Data<AppState>,
    manager: Manager,
    period: Period<K::Dim>,
    requested_centre: Option<String>,
    request: &HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let scope = scope(&manager, requested_centre, &period.group_by)?;
    let csv = wants_csv(request);
    let turn = state.report_turns.take().await?;
    let built = crate::audit::read(&state.pool, &state.read_audit, move |conn, seen| {
        if let Manager::Admin(_) = manager {
            check_centre(conn, &scope)?;
        }
        let centre = scope.centre.as_deref();
        let lines = K::load(conn, &period, centre)?;
        let parameters = period.parameters(K::NAME, centre, csv);
        Event::new(&format!("report.{}", K::NAME), "report", Some(&parameters))
            .by(&manager)
            .centre(centre)
            .defer(seen);
        build::<K>(period, scope, lines)
    })
    .await?;
    drop(turn);
    if !csv {
        return Ok(HttpResponse::Ok().json(K::report(built)));
    }
    let filename = format!("{}-{}-{}.csv", K::NAME, built.period.from, built.period.to);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(super::csv::stream(built)))
}

/// Whether the client asked for CSV (`Accept` names `text/csv`); JSON otherwise.
fn wants_csv(request: &HttpRequest) -> bool {
    request
        .headers()
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| {
            accept.split(',').any(|range| {
                let media = range.split(';').next().unwrap_or_default();
                media.trim().eq_ignore_ascii_case("text/csv")
            })
        })
}

fn build<K: Kind>(
    period: Period<K::Dim>,
    scope: Scope,
    mut lines: Vec<K::Line>,
) -> Result<Built<K>, ApiError> {
    let total = lines
        .pop()
        .filter(|line| line.keys().total == 1)
        .ok_or_else(|| ApiError::internal("the report has no total line"))?;
    // Unrecorded values (`null`) sort last on both backends.
    lines.sort_by_key(|line| {
        line.keys()
            .groups()
            .map(|(value, _)| (value.is_none(), value.map(str::to_owned)))
    });
    let (hidden, total_hidden) = if scope.disclosure_control {
        let tallies: Vec<(i64, i64)> = lines.iter().map(K::tallies).collect();
        suppressed(&tallies, K::tallies(&total).0)
    } else {
        (vec![false; lines.len()], false)
    };
    let rows = lines
        .iter()
        .zip(hidden)
        .map(|(line, hide)| {
            let mut row = K::row(K::counts(line, hide));
            for (dim, (value, label)) in period.group_by.iter().zip(line.keys().groups()) {
                K::set(&mut row, *dim, value, label)?;
            }
            Ok(row)
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Built {
        rows,
        total: K::counts(&total, total_hidden),
        not_disaggregated: shown(total_hidden, total.keys().left_out),
        period,
        scope,
    })
}
