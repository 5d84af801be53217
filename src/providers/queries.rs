//! Reads and writes of the directory beside the provider row: its languages, and responses
//! built with them in one query per page.

use std::collections::HashMap;

use diesel::prelude::*;

use super::model::*;
use crate::db::schema::service_provider_languages;
use crate::db::DbConnection;
use crate::error::ApiError;

pub fn store_languages(
    conn: &mut DbConnection,
    provider_id: &str,
    languages: &[String],
) -> QueryResult<()> {
    diesel::delete(
        service_provider_languages::table
            .filter(service_provider_languages::provider_id.eq(provider_id)),
    )
    .execute(conn)?;
    for language in language_set(languages.to_vec()) {
        diesel::insert_into(service_provider_languages::table)
            .values((
                service_provider_languages::provider_id.eq(provider_id),
                service_provider_languages::language.eq(language),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Responses for a page of providers, with their languages read in one query.
pub fn responses(
    conn: &mut DbConnection,
    rows: Vec<Provider>,
) -> QueryResult<Vec<ProviderResponse>> {
    let ids: Vec<&str> = rows.iter().map(|p| p.id.as_str()).collect();
    let pairs: Vec<(String, String)> = service_provider_languages::table
        .filter(service_provider_languages::provider_id.eq_any(&ids))
        .select((
            service_provider_languages::provider_id,
            service_provider_languages::language,
        ))
        .load(conn)?;
    let mut languages: HashMap<String, Vec<String>> = HashMap::new();
    for (id, language) in pairs {
        languages.entry(id).or_default().push(language);
    }
    Ok(rows
        .into_iter()
        .map(|p| {
            let l = languages.remove(&p.id).unwrap_or_default();
            ProviderResponse::new(p, l)
        })
        .collect())
}

pub fn build(conn: &mut DbConnection, provider: Provider) -> Result<ProviderResponse, ApiError> {
    responses(conn, vec![provider])?
        .pop()
        .ok_or_else(|| ApiError::internal("provider vanished"))
}

/// A set of languages as it is stored: sorted, each once.
pub fn language_set(mut languages: Vec<String>) -> Vec<String> {
    languages.sort();
    languages.dedup();
    languages
}

pub fn stored_languages(conn: &mut DbConnection, provider_id: &str) -> QueryResult<Vec<String>> {
    let stored = service_provider_languages::table
        .filter(service_provider_languages::provider_id.eq(provider_id))
        .select(service_provider_languages::language)
        .load(conn)?;
    Ok(language_set(stored))
}
