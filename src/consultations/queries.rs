use std::collections::HashMap;

use diesel::prelude::*;

use super::model::{Consultation, ConsultationResponse, Topic};
use crate::db::schema::consultation_topics;
use crate::db::DbConnection;

pub fn store_topics(
    conn: &mut DbConnection,
    consultation_id: &str,
    topics: &[Topic],
) -> QueryResult<()> {
    diesel::delete(
        consultation_topics::table.filter(consultation_topics::consultation_id.eq(consultation_id)),
    )
    .execute(conn)?;
    for topic in topic_set(topics.to_vec()) {
        diesel::insert_into(consultation_topics::table)
            .values((
                consultation_topics::consultation_id.eq(consultation_id),
                consultation_topics::topic.eq(topic),
            ))
            .execute(conn)?;
    }
    Ok(())
}

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
