use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, Text, Timestamp};

use super::model::{Consultation, ConsultationResponse, Topic};
use crate::db::schema::{consultation_topics, consultations, migrants};
use crate::db::DbConnection;
use crate::reports::facts::{self, Refresh};

/// What a write did to a consultation, which decides whose report facts change with it.
#[derive(Clone, Copy, PartialEq)]
pub enum Written {
    /// Newly logged.
    Logged,
    /// Moved in time: its old neighbour's facts change as well as its new one's.
    Moved,
    /// Changed without moving.
    Edited,
}

/// After a consultation was logged or changed: keeps its person's first consultation and the
/// facts reports count true, refreshing only from it on where the ones before cannot change, and
/// only its own when it is the person's latest (a walk-in, usually).
pub fn after_write(conn: &mut DbConnection, c: &Consultation, written: Written) -> QueryResult<()> {
    let Some(migrant_id) = &c.migrant_id else {
        facts::refresh(conn, Refresh::Anonymous(&c.id))?;
        return Ok(());
    };
    let first_moved = match written {
        Written::Logged => first_consultation_if_earlier(conn, migrant_id, c.occurred_at)?,
        Written::Moved => refresh_first_consultation(conn, migrant_id)?,
        Written::Edited => false,
    };
    if written == Written::Logged && facts::refresh(conn, Refresh::Latest(&c.id))? == 1 {
        return Ok(());
    }
    // Each of the person's facts copies their first consultation: if it moved, all change.
    let which = if first_moved || written == Written::Moved {
        Refresh::Person(migrant_id)
    } else {
        Refresh::From(&c.id)
    };
    facts::refresh(conn, which)?;
    Ok(())
}

/// A newly logged consultation can only move the person's first consultation earlier, since
/// `first_consulted_at` was true before this write (the person's row is locked, as in
/// [`refresh_first_consultation`]). On PostgreSQL one conditional update instead of its two
/// reads and an update, each a round trip; in process, SQLite's two indexed reads measured cheaper
/// than the update (bench/README.md). Whether it moved.
fn first_consultation_if_earlier(
    conn: &mut DbConnection,
    migrant_id: &str,
    occurred_at: chrono::NaiveDateTime,
) -> QueryResult<bool> {
    let DbConnection::Postgresql(pg) = conn else {
        return refresh_first_consultation(conn, migrant_id);
    };
    let moved = FirstConsultedIfEarlier {
        migrant_id,
        occurred_at,
    }
    .execute(pg)?;
    Ok(moved == 1)
}

/// diesel never prepares an `UPDATE` once for all (its text can change with the changeset), so
/// this one fixed text is written out: PostgreSQL then plans it once per connection instead of
/// once per walk-in.
struct FirstConsultedIfEarlier<'a> {
    migrant_id: &'a str,
    occurred_at: chrono::NaiveDateTime,
}

impl QueryFragment<Pg> for FirstConsultedIfEarlier<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("UPDATE migrants SET first_consulted_at = ");
        out.push_bind_param::<Timestamp, _>(&self.occurred_at)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<Text, _>(self.migrant_id)?;
        out.push_sql(" AND (first_consulted_at IS NULL OR first_consulted_at > ");
        out.push_bind_param::<Timestamp, _>(&self.occurred_at)?;
        out.push_sql(")");
        Ok(())
    }
}

crate::pg_statement!(FirstConsultedIfEarlier);

/// Keeps `migrants.first_consulted_at` (when the person was first consulted, which reports use
/// to tell new people from returning ones) true. The caller has already
/// locked the person's row in this transaction (`require_registered_here`,
/// `refuse_if_anonymised`), so this read sees every consultation committed before and two
/// writes at once cannot leave a later date than the true first. Whether it changed.
fn refresh_first_consultation(conn: &mut DbConnection, migrant_id: &str) -> QueryResult<bool> {
    let first: Option<chrono::NaiveDateTime> = consultations::table
        .filter(consultations::migrant_id.eq(migrant_id))
        .select(diesel::dsl::min(consultations::occurred_at))
        .first(conn)?;
    let stored: Option<chrono::NaiveDateTime> = migrants::table
        .find(migrant_id)
        .select(migrants::first_consulted_at)
        .first(conn)?;
    if stored != first {
        diesel::update(migrants::table.find(migrant_id))
            .set(migrants::first_consulted_at.eq(first))
            .execute(conn)?;
    }
    Ok(stored != first)
}

pub fn store_topics(
    conn: &mut DbConnection,
    consultation_id: &str,
    topics: Vec<Topic>,
) -> QueryResult<()> {
    diesel::delete(
        consultation_topics::table.filter(consultation_topics::consultation_id.eq(consultation_id)),
    )
    .execute(conn)?;
    insert_topics(conn, consultation_id, &topic_set(topics))
}

/// The topics of a consultation that has none yet; `topics` is a [`topic_set`]. Each backend's
/// statements are prepared once: on SQLite a single-row insert per topic, which costs no round
/// trip in process; on PostgreSQL all of them in one statement that takes them as an array. A
/// multi-row insert's text depends on its row count, so either would parse it afresh every
/// time.
fn insert_topics(
    conn: &mut DbConnection,
    consultation_id: &str,
    topics: &[Topic],
) -> QueryResult<()> {
    match conn {
        DbConnection::Sqlite(sqlite) => {
            for topic in topics {
                diesel::insert_into(consultation_topics::table)
                    .values((
                        consultation_topics::consultation_id.eq(consultation_id),
                        consultation_topics::topic.eq(*topic),
                    ))
                    .execute(sqlite)?;
            }
        }
        DbConnection::Postgresql(pg) if !topics.is_empty() => {
            TopicArray::new(consultation_id, topics).execute(pg)?;
        }
        DbConnection::Postgresql(_) => {}
    }
    Ok(())
}

/// A newly logged consultation and its topics (a [`topic_set`]). On PostgreSQL one statement
/// (`WITH`), a round trip less for every walk-in.
pub fn insert_logged(
    conn: &mut DbConnection,
    consultation: &Consultation,
    topics: &[Topic],
) -> QueryResult<()> {
    let DbConnection::Postgresql(pg) = conn else {
        diesel::insert_into(consultations::table)
            .values(consultation)
            .execute(conn)?;
        return insert_topics(conn, &consultation.id, topics);
    };
    LoggedWithTopics {
        consultation: diesel::insert_into(consultations::table).values(consultation),
        topics: TopicArray::new(&consultation.id, topics),
    }
    .execute(pg)?;
    Ok(())
}

/// `INSERT … SELECT $1, unnest($2)`: one consultation's topics, bound as one array.
struct TopicArray<'a> {
    consultation_id: &'a str,
    topics: Vec<&'static str>,
}

impl<'a> TopicArray<'a> {
    fn new(consultation_id: &'a str, topics: &[Topic]) -> Self {
        Self {
            consultation_id,
            topics: topics.iter().map(|topic| topic.as_str()).collect(),
        }
    }
}

impl QueryFragment<Pg> for TopicArray<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("INSERT INTO consultation_topics (consultation_id, topic) SELECT ");
        out.push_bind_param::<Text, _>(self.consultation_id)?;
        out.push_sql(", unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.topics)?;
        out.push_sql(")");
        Ok(())
    }
}

struct LoggedWithTopics<'a> {
    consultation:
        diesel::dsl::Values<diesel::dsl::insert_into<consultations::table>, &'a Consultation>,
    topics: TopicArray<'a>,
}

impl QueryFragment<Pg> for LoggedWithTopics<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("WITH logged AS (");
        self.consultation.walk_ast(out.reborrow())?;
        out.push_sql(") ");
        self.topics.walk_ast(out)
    }
}

crate::pg_statement!(TopicArray);
crate::pg_statement!(LoggedWithTopics);

/// A set of topics as it is stored: sorted, each once.
pub fn topic_set(mut topics: Vec<Topic>) -> Vec<Topic> {
    topics.sort();
    topics.dedup();
    topics
}

pub fn stored_topics(conn: &mut DbConnection, consultation_id: &str) -> QueryResult<Vec<Topic>> {
    let stored = consultation_topics::table
        .filter(consultation_topics::consultation_id.eq(consultation_id))
        .select(consultation_topics::topic)
        .load(conn)?;
    Ok(topic_set(stored))
}

/// Responses for a page of consultations, with their topics read in one query.
pub fn responses(
    conn: &mut DbConnection,
    rows: Vec<Consultation>,
) -> QueryResult<Vec<ConsultationResponse>> {
    let ids: Vec<&str> = rows.iter().map(|c| c.id.as_str()).collect();
    let pairs: Vec<(String, Topic)> = consultation_topics::table
        .filter(consultation_topics::consultation_id.eq_any(&ids))
        .select((
            consultation_topics::consultation_id,
            consultation_topics::topic,
        ))
        .load(conn)?;
    let mut topics: HashMap<String, Vec<Topic>> = HashMap::new();
    for (id, topic) in pairs {
        topics.entry(id).or_default().push(topic);
    }
    Ok(rows
        .into_iter()
        .map(|c| {
            let t = topics.remove(&c.id).unwrap_or_default();
            ConsultationResponse::new(c, t)
        })
        .collect())
}
