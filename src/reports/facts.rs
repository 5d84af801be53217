//! `consultation_facts`: what the consultations report counts, one narrow row per consultation,
//! with copies of its person's statistical attributes, so that a year of reports reads one table
//! in time order instead of joining a million consultations with their people.
//!
//! The copies are only as true as the writes that refresh them: every write to a consultation,
//! and every write to a person's record (a PATCH of a statistical field or consent,
//! anonymisation), refreshes all of that person's rows (each depends on the one before). Each
//! refresh is one statement.

use std::sync::OnceLock;

use diesel::prelude::*;

use super::sql::{Dialect, AGE_BAND};
use crate::consultations::model::Topic;
use crate::db::{DbConnection, PreparedSql, PARAM};

/// Which consultations to refresh.
#[derive(Clone, Copy)]
pub enum Refresh<'a> {
    /// One anonymous consultation.
    Anonymous(&'a str),
    /// Every consultation of a registered person: each one's facts depend on the one before.
    Person(&'a str),
    /// A registered person's consultation (by its id) and the ones after it: what changes when
    /// a consultation is logged, or edited without moving, unless it became the person's first.
    From(&'a str),
    /// Every consultation of a centre's people, and its anonymous ones (bulk loads).
    Centre(&'a str),
    /// A registered person's newly logged consultation, if it is their latest: no other facts
    /// change, and the one before it gives its `previous_at` and `band_changed`. Refreshes
    /// nothing (0 rows) otherwise. A walk-in is logged as it happens, so this is the usual case,
    /// and one row's insert costs far less than the window over the person's consultations.
    Latest(&'a str),
}

impl Refresh<'_> {
    /// The condition on `c` (the consultation) with `param` where its value goes.
    fn filter(&self, param: &str) -> String {
        match self {
            Self::Anonymous(_) => format!("c.id = {param} AND c.migrant_id IS NULL"),
            Self::Person(_) => format!("c.migrant_id = {param}"),
            // From the person's last moment before the consultation: the window needs the row
            // before it, which `kept` then leaves as it is.
            Self::From(_) => format!(
                "c.migrant_id = (SELECT n.migrant_id FROM consultations n WHERE n.id = {param}) \
                 AND c.occurred_at >= COALESCE((SELECT MAX(p.occurred_at) FROM consultations p \
                 JOIN consultations n ON n.id = {param} AND p.migrant_id = n.migrant_id \
                 WHERE p.occurred_at < n.occurred_at), {at})",
                at = Self::occurred_at(param)
            ),
            Self::Centre(_) => format!(
                "(c.migrant_id IN (SELECT p.id FROM migrants p WHERE p.centre_id = {param}) \
                 OR (c.migrant_id IS NULL AND c.centre_id = {param}))"
            ),
            Self::Latest(_) => format!("c.id = {param} AND c.migrant_id IS NOT NULL"),
        }
    }

    /// The condition on the refreshed facts of which ones to store.
    fn kept(&self, param: &str) -> String {
        match self {
            Self::From(_) => format!("occurred_at >= {}", Self::occurred_at(param)),
            _ => "true".to_owned(),
        }
    }

    fn occurred_at(param: &str) -> String {
        format!("(SELECT n.occurred_at FROM consultations n WHERE n.id = {param})")
    }
}

/// Rewrites the facts of the chosen consultations from the consultations, their topics and
/// their people as stored now.
pub fn refresh(conn: &mut DbConnection, which: Refresh) -> QueryResult<usize> {
    let parts = statement(Dialect::of(conn), which);
    match which {
        Refresh::Anonymous(id) => prepared::<AnonymousKey>(parts, id).execute(conn),
        Refresh::Person(id) => prepared::<PersonKey>(parts, id).execute(conn),
        Refresh::From(id) => prepared::<FromKey>(parts, id).execute(conn),
        Refresh::Centre(id) => prepared::<CentreKey>(parts, id).execute(conn),
        Refresh::Latest(id) => prepared::<LatestKey>(parts, id).execute(conn),
    }
}

/// The statement cache's keys for the five refreshes (one text each per backend).
struct AnonymousKey;
struct PersonKey;
struct FromKey;
struct CentreKey;
struct LatestKey;

fn prepared<K>(parts: &'static [String], value: &str) -> PreparedSql<K> {
    PreparedSql {
        parts,
        value: value.to_owned(),
        key: std::marker::PhantomData,
    }
}

/// The refresh's text for the backend, built once and split where its value goes.
fn statement(d: Dialect, which: Refresh) -> &'static [String] {
    static TEXTS: [OnceLock<Vec<String>>; 10] = [const { OnceLock::new() }; 10];
    let variant = match which {
        Refresh::Anonymous(_) => 0,
        Refresh::Person(_) => 1,
        Refresh::From(_) => 2,
        Refresh::Centre(_) => 3,
        Refresh::Latest(_) => 4,
    };
    let backend = match d {
        Dialect::Postgres => 0,
        Dialect::Sqlite => 1,
    };
    TEXTS[variant * 2 + backend].get_or_init(|| {
        let text = match which {
            Refresh::Latest(_) => insert_latest(d, &which.filter(PARAM)),
            _ => upsert(d, &which.filter(PARAM), &which.kept(PARAM)),
        };
        text.split(PARAM).map(str::to_owned).collect()
    })
}

/// The bit of a topic in `consultation_facts.topics`.
pub fn topic_bit(topic: Topic) -> i32 {
    let position = Topic::ALL
        .iter()
        .position(|t| *t == topic)
        .unwrap_or_default();
    1 << position
}

/// The topics with their bits as a table `(topic, bit)` to join a consultation's bit set with.
pub fn topic_table() -> String {
    Topic::ALL
        .iter()
        .map(|t| format!("SELECT '{}' AS topic, {} AS bit", t.as_str(), topic_bit(*t)))
        .collect::<Vec<_>>()
        .join(" UNION ALL ")
}

/// A consultation's topics as their bit set.
fn topic_mask() -> String {
    let cases: String = Topic::ALL
        .iter()
        .map(|t| format!(" WHEN '{}' THEN {}", t.as_str(), topic_bit(*t)))
        .collect();
    format!(
        "(SELECT COALESCE(SUM(CASE t.topic{cases} END), 0) FROM consultation_topics t \
         WHERE t.consultation_id = c.id)"
    )
}

const COLUMNS: &str = "consultation_id, occurred_at, centre_id, counsellor_id, channel, \
     migrant_id, sex, nationality, migration_status, destination_country, age_band, topics, \
     counted, first_consulted_at, previous_at, band_changed";

/// The facts of the consultations matching `filter` (over `c`, the consultation), inserted or
/// replacing the stored ones where `kept` holds. Age bands are at the consultation's date;
/// anonymous consultations carry their recorded attributes and always count. `previous_at` is
/// the person's consultation before this one and `band_changed` whether their age band changed
/// since: with them a report tells a person's first consultation in a month, week or period from
/// the rows alone.
fn upsert(d: Dialect, filter: &str, kept: &str) -> String {
    let updates = COLUMNS
        .split(", ")
        .skip(1)
        .map(|column| format!("{column} = excluded.{column}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "INSERT INTO consultation_facts ({COLUMNS}) SELECT {COLUMNS} FROM (\
         SELECT {consultation} AS consultation_id, occurred_at, {centre} AS centre_id, \
         {counsellor} AS counsellor_id, channel, {migrant} AS migrant_id, sex, nationality, \
         migration_status, destination_country, age_band, topics, counted, first_consulted_at, \
         CASE WHEN migrant_id IS NULL THEN NULL ELSE LAG(occurred_at) OVER person END \
         AS previous_at, \
         CASE WHEN migrant_id IS NOT NULL AND LAG(occurred_at) OVER person IS NOT NULL \
         AND LAG(age_band) OVER person IS DISTINCT FROM age_band THEN 1 ELSE 0 END \
         AS band_changed \
         FROM ({banded}) AS fresh \
         WINDOW person AS (PARTITION BY migrant_id ORDER BY occurred_at, id)) AS facts \
         WHERE {kept} \
         ON CONFLICT (consultation_id) DO UPDATE SET {updates}",
        banded = banded(d, filter),
        consultation = d.id("id"),
        centre = d.id("centre_id"),
        counsellor = d.id("counsellor_id"),
        migrant = d.id("migrant_id"),
    )
}

/// The facts of the one consultation matching `filter`, inserted if no consultation of its
/// person comes after it (in the window's order: time, then id). The facts stored before it are
/// true (the person's row is locked), so the latest of them is the row the window would put
/// before it.
fn insert_latest(d: Dialect, filter: &str) -> String {
    let previous = format!(
        "FROM consultation_facts f WHERE f.migrant_id = {}",
        d.id("fresh.migrant_id")
    );
    format!(
        "INSERT INTO consultation_facts ({COLUMNS}) SELECT {COLUMNS} FROM (\
         SELECT {consultation} AS consultation_id, occurred_at, {centre} AS centre_id, \
         {counsellor} AS counsellor_id, channel, {migrant} AS migrant_id, sex, nationality, \
         migration_status, destination_country, age_band, topics, counted, first_consulted_at, \
         previous_at, CASE WHEN previous_at IS NOT NULL \
         AND previous_band IS DISTINCT FROM age_band THEN 1 ELSE 0 END AS band_changed \
         FROM (SELECT fresh.*, (SELECT MAX(f.occurred_at) {previous}) AS previous_at, \
         (SELECT f.age_band {previous} ORDER BY f.occurred_at DESC, f.consultation_id DESC \
         LIMIT 1) AS previous_band \
         FROM ({banded}) AS fresh WHERE NOT EXISTS (SELECT 1 FROM consultations l \
         WHERE l.migrant_id = fresh.migrant_id AND (l.occurred_at > fresh.occurred_at \
         OR (l.occurred_at = fresh.occurred_at AND l.id > fresh.id)))) AS latest) AS facts",
        banded = banded(d, filter),
        consultation = d.id("id"),
        centre = d.id("centre_id"),
        counsellor = d.id("counsellor_id"),
        migrant = d.id("migrant_id"),
    )
}

/// The consultations matching `filter` with their person's attributes and age band.
fn banded(d: Dialect, filter: &str) -> String {
    format!(
        "SELECT id, occurred_at, centre_id, counsellor_id, channel, migrant_id, sex, \
         nationality, migration_status, destination_country, \
         CASE WHEN migrant_id IS NULL THEN anonymous_age_band ELSE {AGE_BAND} END AS age_band, \
         topics, counted, first_consulted_at FROM (SELECT c.id, c.occurred_at, c.centre_id, \
         c.counsellor_id, c.channel, c.migrant_id, c.anonymous_age_band, \
         COALESCE(m.sex, c.anonymous_sex) AS sex, \
         COALESCE(m.nationality, c.anonymous_nationality) AS nationality, \
         COALESCE(m.migration_status, c.anonymous_migration_status) AS migration_status, \
         m.destination_country, {age}, {topics} AS topics, \
         CASE WHEN m.id IS NOT NULL AND NOT (m.consent_statistics_given_at IS NOT NULL \
         AND m.consent_statistics_withdrawn_at IS NULL) THEN 0 ELSE 1 END AS counted, \
         m.first_consulted_at \
         FROM consultations c LEFT JOIN migrants m ON m.id = c.migrant_id \
         WHERE {filter}) AS person_facts",
        age = super::sql::age(d, "c.occurred_at"),
        topics = topic_mask(),
    )
}
