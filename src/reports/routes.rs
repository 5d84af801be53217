use actix_web::http::header;
use actix_web::{get, web, HttpRequest, HttpResponse};
use chrono::{Datelike, NaiveDate};
use serde::de::DeserializeOwned;
use utoipa_actix_web::service_config::ServiceConfig;

use super::access::{check_centre, scope, Scope};
use super::disclosure::suppressed;
use super::model::*;
use super::queries::{consultations_report, Line};
use crate::audit::Event;
use crate::auth::roles::Manager;
use crate::error::ApiError;
use crate::http::Query;
use crate::state::AppState;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(report_consultations);
}

const CSV_EXAMPLE: &str = "\u{feff}month,sex,consultations,people,new_people,suppressed\r\n\
2026-01,female,41,30,12,false\r\n2026-01,male,,,,true\r\ntotal,total,97,71,25,false\r\n";

/// Consultations in a period, broken down by up to three dimensions.
///
/// Supervisors report on their centre; admins on one or every centre, aggregates only (no
/// `counsellor` breakdown), with disclosure control. Send `Accept: text/csv` for CSV: a header
/// row, the same rows and suppression (empty cells, `suppressed` true), the total last with
/// `total` in its dimension cells; UTF-8 with a BOM; text a spreadsheet would run as a formula
/// starts with an apostrophe. Each report is audited (`report.consultations`, with its
/// parameters). An admin's unknown `centre_id` answers 404.
#[utoipa::path(
    tag = "reports",
    params(ConsultationsReportQuery),
    responses((
        status = 200,
        description = "The report",
        content(
            (ConsultationsReport = "application/json"),
            (String = "text/csv", example = json!(CSV_EXAMPLE))
        ),
        headers((
            "Content-Disposition" = String,
            description = "CSV only: `attachment; filename=\"consultations-<from>-<to>.csv\"`"
        ))
    )),
    security(("bearer" = ["supervisor", "admin"]))
)]
#[get("/reports/consultations")]
async fn report_consultations(
    state: web::Data<AppState>,
    manager: Manager,
    query: Query<ConsultationsReportQuery>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let period = query.check()?;
    let scope = scope(&manager, query.centre_id, &period.group_by)?;
    let csv = wants_csv(&request);
    let report = crate::db::run(&state.pool, move |conn| {
        if let Manager::Admin(_) = manager {
            check_centre(conn, &scope)?;
        }
        let lines = consultations_report(
            conn,
            period.from,
            period.to,
            &period.group_by,
            scope.centre.as_deref(),
        )?;
        let parameters = parameters(&period, &scope, csv);
        Event::new("report.consultations", "report", Some(&parameters))
            .by(&manager)
            .centre(scope.centre.as_deref())
            .record(conn)?;
        build(period, scope, lines)
    })
    .await?;
    if !csv {
        return Ok(HttpResponse::Ok().json(report));
    }
    let filename = format!("consultations-{}-{}.csv", report.from, report.to);
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(super::csv::render(&report)?))
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

/// What the audit event records of the request: the report and its parameters (no people).
fn parameters(period: &Period, scope: &Scope, csv: bool) -> String {
    let group_by: Vec<&str> = period.group_by.iter().map(|d| d.as_str()).collect();
    format!(
        "consultations?from={}&to={}&group_by={}&centre_id={}&format={}",
        period.from,
        period.to,
        group_by.join(","),
        scope.centre.as_deref().unwrap_or("all"),
        if csv { "csv" } else { "json" }
    )
}

fn build(
    period: Period,
    scope: Scope,
    mut lines: Vec<Line>,
) -> Result<ConsultationsReport, ApiError> {
    let total = lines
        .pop()
        .filter(|line| line.total == 1)
        .ok_or_else(|| ApiError::internal("the report has no total line"))?;
    // Unrecorded values (`null`) sort last on both backends.
    lines.sort_by_key(|line| {
        line.groups()
            .map(|(value, _)| (value.is_none(), value.map(str::to_owned)))
    });
    let (hidden, total_hidden) = if scope.disclosure_control {
        let tallies: Vec<(i64, i64)> = lines.iter().map(|l| (l.people, l.consultations)).collect();
        suppressed(&tallies, total.people)
    } else {
        (vec![false; lines.len()], false)
    };
    let rows = lines
        .iter()
        .zip(hidden)
        .map(|(line, hide)| row(&period.group_by, line, hide))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ConsultationsReport {
        from: period.from,
        to: period.to,
        group_by: period.group_by,
        centre_id: scope.centre,
        disclosure_control: scope.disclosure_control,
        rows,
        total: counts(&total, total_hidden),
    })
}

fn counts(line: &Line, hidden: bool) -> Counts {
    let shown = |value: i64| (!hidden).then_some(value);
    Counts {
        consultations: shown(line.consultations),
        people: shown(line.people),
        new_people: shown(line.new_people),
        suppressed: hidden,
    }
}

fn row(group_by: &[GroupBy], line: &Line, hidden: bool) -> Result<ConsultationsRow, ApiError> {
    let mut row = ConsultationsRow {
        counts: counts(line, hidden),
        ..Default::default()
    };
    for (dim, (value, label)) in group_by.iter().zip(line.groups()) {
        set(&mut row, *dim, value, label)?;
    }
    Ok(row)
}

/// Puts a dimension's stored value (and label) into its field; an enum value the application
/// does not know fails the request rather than being shown as another.
fn set(
    row: &mut ConsultationsRow,
    dim: GroupBy,
    value: Option<&str>,
    label: Option<&str>,
) -> Result<(), ApiError> {
    let text = value.map(str::to_owned);
    match dim {
        GroupBy::Month => row.month = text,
        GroupBy::Week => row.week = value.map(iso_week).transpose()?,
        GroupBy::Centre => {
            row.centre = text;
            row.centre_name = label.map(str::to_owned);
        }
        GroupBy::Counsellor => {
            row.counsellor = text;
            row.counsellor_name = label.map(str::to_owned);
        }
        GroupBy::Channel => row.channel = value.map(stored).transpose()?,
        GroupBy::Topic => row.topic = value.map(stored).transpose()?,
        GroupBy::Sex => row.sex = value.map(stored).transpose()?,
        GroupBy::AgeBand => row.age_band = Some(value.map(stored).transpose()?),
        GroupBy::Nationality => row.nationality = text,
        GroupBy::MigrationStatus => row.migration_status = value.map(stored).transpose()?,
        GroupBy::DestinationCountry => row.destination_country = Some(text),
    }
    Ok(())
}

fn stored<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(ApiError::internal)
}

/// `2026-W02` from the Monday that starts the week.
fn iso_week(monday: &str) -> Result<String, ApiError> {
    let day = NaiveDate::parse_from_str(monday, "%Y-%m-%d").map_err(ApiError::internal)?;
    let week = day.iso_week();
    Ok(format!("{}-W{:02}", week.year(), week.week()))
}
