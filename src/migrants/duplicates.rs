//! Duplicate detection before a registration: candidates are narrowed in SQL (name prefixes,
//! sex, birth-year window) over slim rows, scored here on their name tokens, birth and sex, and
//! only the best few are read in full.

use std::collections::HashMap;

use chrono::Datelike;
use diesel::prelude::*;

use super::model::{DuplicateQuery, Migrant, Sex};
use super::names;
use crate::db::schema::{migrant_name_tokens, migrants};
use crate::db::DbConnection;

/// A registered person who may be the one about to be registered, with the score shown.
pub struct Match {
    pub score: f64,
    pub matched: Vec<String>,
    pub migrant: Migrant,
}

/// The canonical name tokens of the person about to be registered.
pub fn query_tokens(query: &DuplicateQuery) -> Vec<String> {
    names::tokens(
        [
            Some(query.given_name.as_str()),
            Some(query.family_name.as_str()),
            query.patronymic.as_deref(),
        ]
        .into_iter()
        .flatten(),
    )
}

/// The best-scoring people of the centre, best first (ties by id), read in full.
pub fn best_matches(
    conn: &mut DbConnection,
    centre: &str,
    query: &DuplicateQuery,
    query_tokens: &[String],
) -> QueryResult<Vec<Match>> {
    let candidates = candidates(conn, centre, query)?;
    let tokens = name_tokens(conn, &candidates)?;
    let ranked = rank(query, query_tokens, candidates, &tokens);
    full_rows(conn, ranked)
}

/// Each candidate's stored name tokens, by migrant id.
fn name_tokens(
    conn: &mut DbConnection,
    candidates: &[Candidate],
) -> QueryResult<HashMap<String, Vec<String>>> {
    let ids: Vec<&str> = candidates.iter().map(|m| m.id.as_str()).collect();
    let token_rows: Vec<(String, String)> = migrant_name_tokens::table
        .filter(migrant_name_tokens::migrant_id.eq_any(&ids))
        .select((migrant_name_tokens::migrant_id, migrant_name_tokens::token))
        .load(conn)?;
    let mut tokens: HashMap<String, Vec<String>> = HashMap::new();
    for (id, token) in token_rows {
        tokens.entry(id).or_default().push(token);
    }
    Ok(tokens)
}

/// (score, matched fields, id) of the candidates named alike enough, best first, at most
/// `DUPLICATE_RESULTS`.
fn rank(
    query: &DuplicateQuery,
    query_tokens: &[String],
    candidates: Vec<Candidate>,
    tokens: &HashMap<String, Vec<String>>,
) -> Vec<(f64, Vec<String>, String)> {
    let mut scored: Vec<(f64, Vec<String>, String)> = candidates
        .into_iter()
        .filter_map(|c| {
            let candidate_tokens = tokens.get(&c.id)?;
            if names::name_similarity(query_tokens, candidate_tokens) < DUPLICATE_NAME_THRESHOLD {
                return None;
            }
            let (score, matched) = score(query, query_tokens, &c, candidate_tokens);
            Some((score, matched, c.id))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
    scored.truncate(DUPLICATE_RESULTS);
    scored
}

/// Full rows only for the few shown, kept in score order.
fn full_rows(
    conn: &mut DbConnection,
    ranked: Vec<(f64, Vec<String>, String)>,
) -> QueryResult<Vec<Match>> {
    let best: Vec<&str> = ranked.iter().map(|(_, _, id)| id.as_str()).collect();
    let mut rows: HashMap<String, Migrant> = migrants::table
        .filter(migrants::id.eq_any(&best))
        .filter(migrants::anonymised_at.is_null())
        .select(Migrant::as_select())
        .load::<Migrant>(conn)?
        .into_iter()
        .map(|m| (m.id.clone(), m))
        .collect();
    Ok(ranked
        .into_iter()
        .filter_map(|(score, matched, id)| {
            rows.remove(&id).map(|migrant| Match {
                score,
                matched,
                migrant,
            })
        })
        .collect())
}

/// How a registered person compares with the one about to be registered.
fn score(
    query: &DuplicateQuery,
    query_tokens: &[String],
    candidate: &Candidate,
    tokens: &[String],
) -> (f64, Vec<String>) {
    let mut matched = Vec::new();
    let name = names::name_similarity(query_tokens, tokens);
    if name >= 0.9 {
        matched.push("name".to_owned());
    }
    let query_year = query.date_of_birth.map(|d| d.year()).or(query.birth_year);
    let birth = match (
        query.date_of_birth,
        candidate.date_of_birth,
        query_year,
        candidate.birth_year,
    ) {
        (Some(a), Some(b), _, _) if a == b => {
            matched.push("date_of_birth".to_owned());
            1.0
        }
        (_, _, Some(a), Some(b)) => match (a - b).abs() {
            0 => {
                matched.push("birth_year".to_owned());
                0.85
            }
            1 => 0.5,
            2 => 0.25,
            _ => 0.0,
        },
        _ => 0.5,
    };
    let candidate_sex = candidate.sex;
    let sex = match query.sex {
        Some(Sex::Undisclosed) | None => 0.5,
        Some(_) if candidate_sex == Sex::Undisclosed => 0.5,
        Some(s) if s == candidate_sex => {
            matched.push("sex".to_owned());
            1.0
        }
        Some(_) => 0.0,
    };
    let total = 0.65 * name + 0.25 * birth + 0.10 * sex;
    ((total * 1000.0).round() / 1000.0, matched)
}

/// Candidates are narrowed in SQL (name prefixes, sex, birth-year window), then scored here.
const DUPLICATE_CANDIDATES: i64 = 1000;
/// Years either side of the given birth year that still make a candidate (scored down with
/// the distance): ten years apart is a different person more often than a typo, but is shown.
const DUPLICATE_YEAR_WINDOW: i32 = 12;
const DUPLICATE_RESULTS: usize = 20;
/// Names less alike than this are not the same person, whatever the birth date.
const DUPLICATE_NAME_THRESHOLD: f64 = 0.8;

/// What scoring needs of a candidate (full rows are read for the best few only).
#[derive(Queryable)]
struct Candidate {
    id: String,
    sex: Sex,
    date_of_birth: Option<chrono::NaiveDate>,
    birth_year: Option<i32>,
}

fn candidates(
    conn: &mut DbConnection,
    centre: &str,
    query: &DuplicateQuery,
) -> QueryResult<Vec<Candidate>> {
    let mut q = migrants::table
        .filter(migrants::centre_id.eq(centre.to_owned()))
        .into_boxed();
    // A token starting like the given name and one starting like the family name, in any order
    // (names are a set of tokens): "Jabborzoda Gulru" and "Gurlu Jabborzoda" stay candidates.
    for name in [&query.given_name, &query.family_name] {
        let Some(first) = names::tokens([name.as_str()]).into_iter().next() else {
            continue;
        };
        let prefix: String = first.chars().take(2).collect();
        let upper = names::prefix_upper_bound(&prefix);
        q = q.filter(
            migrants::id.eq_any(
                migrant_name_tokens::table
                    .select(migrant_name_tokens::migrant_id)
                    .filter(migrant_name_tokens::token.ge(prefix))
                    .filter(migrant_name_tokens::token.lt(upper)),
            ),
        );
    }
    if let Some(sex) = query.sex.filter(|s| *s != Sex::Undisclosed) {
        q = q.filter(migrants::sex.eq_any([sex, Sex::Undisclosed]));
    }
    if let Some(year) = query.date_of_birth.map(|d| d.year()).or(query.birth_year) {
        q = q.filter(
            migrants::birth_year.is_null().or(migrants::birth_year
                .between(year - DUPLICATE_YEAR_WINDOW, year + DUPLICATE_YEAR_WINDOW)
                .assume_not_null()),
        );
    }
    q.order(migrants::id.desc())
        .limit(DUPLICATE_CANDIDATES)
        .select((
            migrants::id,
            migrants::sex,
            migrants::date_of_birth,
            migrants::birth_year,
        ))
        .load::<Candidate>(conn)
}
