use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{Array, Text, Timestamp};

use super::model::{Consultation, ConsultationResponse, Topic};
use crate::db::schema::{consultation_topics, consultations, migrants};
use crate::db::then::Then;
use crate::db::DbConnection;
use crate::reports::facts::{self, Refresh};

/// What an edit did to a stored consultation, which decides whose report facts change with it.
#[derive(Clone, Copy)]
pub enum Written {
    /// Moved in time: its old neighbour's facts change as well as its new one's.
    Moved,
    /// Changed without moving.
    Edited,
}

/// Logs a new consultation with its topics (a [`topic_set`]), keeping its person's first
/// consultation and the facts reports count true: only its own facts when it is the person's
/// latest (a walk-in, usually).
pub fn insert_logged(
    conn: &mut DbConnection,
    c: &Consultation,
    topics: &[Topic],
) -> QueryResult<()> {
    let first_moved = insert_with_topics(conn, c, topics)?;
    let Some(migrant_id) = &c.migrant_id else {
        facts::refresh(conn, Refresh::Anonymous(&c.id))?;
        return Ok(());
    };
    if facts::refresh(conn, Refresh::Latest(&c.id))? == 1 {
        return Ok(());
    }
    // Each of the person's facts copies their first consultation: if it moved, all change.
    let which = if first_moved {
        Refresh::Person(migrant_id)
    } else {
        Refresh::From(&c.id)
    };
    facts::refresh(conn, which)?;
    Ok(())
}

/// After a stored consultation changed: keeps its person's first consultation and the facts
/// reports count true, refreshing only from it on where the ones before cannot change.
pub fn after_write(conn: &mut DbConnection, c: &Consultation, written: Written) -> QueryResult<()> {
    let Some(migrant_id) = &c.migrant_id else {
        facts::refresh(conn, Refresh::Anonymous(&c.id))?;
        return Ok(());
    };
    let which = match written {
        Written::Moved => {
            refresh_first_consultation(conn, migrant_id)?;
            Refresh::Person(migrant_id)
        }
        Written::Edited => Refresh::From(&c.id),
    };
    facts::refresh(conn, which)?;
    Ok(())
}

/// The consultation, its topics and its person's first consultation, which a new one can only
/// move earlier: `first_consulted_at` was true before this write, and the person's row is
/// locked (as in [`refresh_first_consultation`]). Whether it moved. On PostgreSQL all three are
/// one statement ([`Then`]) — the update compares with the stored date and reads no
/// consultation, so it needs nothing the inserts write — two round trips less for every
/// walk-in. In process, SQLite's two indexed reads measured cheaper than the update
/// (bench/README.md).
fn insert_with_topics(
    conn: &mut DbConnection,
    c: &Consultation,
    topics: &[Topic],
) -> QueryResult<bool> {
    let DbConnection::Postgresql(pg) = conn else {
        diesel::insert_into(consultations::table)
            .values(c)
            .execute(conn)?;
        insert_topics(conn, &c.id, topics)?;
        return match &c.migrant_id {
            Some(migrant_id) => refresh_first_consultation(conn, migrant_id),
            None => Ok(false),
        };
    };
    let consultation = diesel::insert_into(consultations::table).values(c);
    let topics = TopicArray::new(&c.id, topics);
    let Some(migrant_id) = &c.migrant_id else {
        Then((consultation,), topics).execute(pg)?;
        return Ok(false);
    };
    let first = FirstConsultedIfEarlier {
        migrant_id,
        occurred_at: c.occurred_at,
    };
    Ok(Then((consultation, topics), first).execute(pg)? == 1)
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

// Found in the statement cache by their type, so each is prepared once per connection.
const _: () = assert!(Then::<(ConsultationInsert,), TopicArray>::HAS_STATIC_QUERY_ID);
const _: () =
    assert!(Then::<(ConsultationInsert, TopicArray), FirstConsultedIfEarlier>::HAS_STATIC_QUERY_ID);

type ConsultationInsert<'a> =
    diesel::dsl::Values<diesel::dsl::insert_into<consultations::table>, &'a Consultation>;

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

crate::pg_statement!(TopicArray);

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
