//! Writes and read models shared by the migrant handlers (and by cases and referrals).

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::{mask_phone, ConsentScope, Migrant, MigrantSummary, Vulnerability};
use super::names;
use crate::cases::model::CaseStatus;
use crate::db::schema::{
    cases, migrant_consent_events, migrant_name_tokens, migrant_vulnerabilities,
};
use crate::db::DbConnection;

/// Replaces the search tokens of a migrant's names.
pub fn store_name_tokens(conn: &mut DbConnection, migrant: &Migrant) -> QueryResult<()> {
    diesel::delete(
        migrant_name_tokens::table.filter(migrant_name_tokens::migrant_id.eq(&migrant.id)),
    )
    .execute(conn)?;
    let tokens = names::tokens(
        [
            Some(migrant.given_name.as_str()),
            Some(migrant.family_name.as_str()),
            migrant.patronymic.as_deref(),
        ]
        .into_iter()
        .flatten(),
    );
    // One statement per row: diesel's multi-backend connection has no batch insert. A name has
    // a handful of tokens.
    for token in &tokens {
        diesel::insert_into(migrant_name_tokens::table)
            .values((
                migrant_name_tokens::migrant_id.eq(&migrant.id),
                migrant_name_tokens::token.eq(token),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn store_vulnerabilities(
    conn: &mut DbConnection,
    migrant_id: &str,
    flags: &[Vulnerability],
) -> QueryResult<()> {
    diesel::delete(
        migrant_vulnerabilities::table.filter(migrant_vulnerabilities::migrant_id.eq(migrant_id)),
    )
    .execute(conn)?;
    let mut flags = flags.to_vec();
    flags.sort();
    flags.dedup();
    for flag in &flags {
        diesel::insert_into(migrant_vulnerabilities::table)
            .values((
                migrant_vulnerabilities::migrant_id.eq(migrant_id),
                migrant_vulnerabilities::flag.eq(flag),
            ))
            .execute(conn)?;
    }
    Ok(())
}

pub fn vulnerabilities(
    conn: &mut DbConnection,
    migrant_id: &str,
) -> QueryResult<Vec<Vulnerability>> {
    migrant_vulnerabilities::table
        .filter(migrant_vulnerabilities::migrant_id.eq(migrant_id))
        .select(migrant_vulnerabilities::flag)
        .load(conn)
}

pub fn record_consent(
    conn: &mut DbConnection,
    migrant_id: &str,
    scope: ConsentScope,
    given: bool,
    at: chrono::NaiveDateTime,
    recorded_by: &str,
) -> QueryResult<()> {
    diesel::insert_into(migrant_consent_events::table)
        .values((
            migrant_consent_events::id.eq(uuid::Uuid::now_v7().to_string()),
            migrant_consent_events::migrant_id.eq(migrant_id),
            migrant_consent_events::scope.eq(scope),
            migrant_consent_events::given.eq(given),
            migrant_consent_events::at.eq(at),
            migrant_consent_events::recorded_by.eq(recorded_by),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Search summaries for a page of migrants: one extra query for their open cases, whatever
/// the page size.
pub fn summaries(conn: &mut DbConnection, rows: Vec<Migrant>) -> QueryResult<Vec<MigrantSummary>> {
    let ids: Vec<&str> = rows.iter().map(|m| m.id.as_str()).collect();
    let open: Vec<(String, String)> = cases::table
        .filter(cases::migrant_id.eq_any(&ids))
        .filter(cases::status.eq(CaseStatus::Open))
        .select((cases::migrant_id, cases::assigned_to))
        .load(conn)?;
    let mut by_migrant: HashMap<String, Vec<String>> = HashMap::new();
    for (migrant_id, counsellor) in open {
        by_migrant.entry(migrant_id).or_default().push(counsellor);
    }
    Ok(rows
        .into_iter()
        .map(|m| {
            let counsellors = by_migrant.remove(&m.id).unwrap_or_default();
            let open_case_count = counsellors.len() as i64;
            let mut unique = counsellors;
            unique.sort();
            unique.dedup();
            MigrantSummary {
                birth_year: m.birth_year,
                phone_masked: m.phone.as_deref().map(mask_phone),
                sex: m.sex,
                open_case_count,
                open_case_counsellors: unique,
                updated_at: crate::time::utc(m.updated_at),
                id: m.id,
                given_name: m.given_name,
                family_name: m.family_name,
                patronymic: m.patronymic,
                nationality: m.nationality,
            }
        })
        .collect())
}
