use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::service_providers;
use crate::time::Timestamp;
use crate::validation::Validator;

crate::text_enum!(
    ProviderKind {
        LegalAid => "legal_aid",
        Health => "health",
        Shelter => "shelter",
        Employment => "employment",
        Education => "education",
        Financial => "financial",
        Government => "government",
        Embassy => "embassy",
        Ngo => "ngo",
        Other => "other",
    }
);

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = service_providers, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct Provider {
    pub id: String,
    pub centre_id: Option<String>,
    pub name: String,
    pub name_key: String,
    pub kind: ProviderKind,
    pub description: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    pub opening_hours: Option<String>,
    pub accepts_referrals: bool,
    pub active: bool,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

crate::versioned!(Provider, service_providers);

/// The lower-cased, accent-folded name used by `q` search.
pub fn name_key(name: &str) -> String {
    deunicode::deunicode(name).to_lowercase()
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderResponse {
    pub id: String,
    /// `null` for a global entry.
    pub centre_id: Option<String>,
    #[schema(example = "Legal Aid Centre Dushanbe")]
    pub name: String,
    pub kind: ProviderKind,
    pub description: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
    /// ISO 639-1 codes of the languages the provider serves in.
    pub languages: Vec<String>,
    #[schema(example = "Mon–Fri 9:00–17:00")]
    pub opening_hours: Option<String>,
    pub accepts_referrals: bool,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ProviderResponse {
    pub fn new(p: Provider, mut languages: Vec<String>) -> Self {
        languages.sort();
        Self {
            kind: p.kind,
            id: p.id,
            centre_id: p.centre_id,
            name: p.name,
            description: p.description,
            address: p.address,
            city: p.city,
            country: p.country,
            phone: p.phone,
            email: p.email,
            website: p.website,
            languages,
            opening_hours: p.opening_hours,
            accepts_referrals: p.accepts_referrals,
            active: p.active,
            version: p.version,
            created_at: crate::time::utc(p.created_at),
            updated_at: crate::time::utc(p.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Legal Aid Centre Dushanbe", "kind": "legal_aid", "city": "Dushanbe", "country": "TJ", "phone": "+992372211111", "languages": ["tg", "ru"], "opening_hours": "Mon–Fri 9:00–17:00", "accepts_referrals": true}))]
pub struct CreateProvider {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    pub kind: ProviderKind,
    /// Supervisors: their centre (the default). Admins: omit for a global entry.
    pub centre_id: Option<String>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    #[schema(max_length = 300)]
    pub address: Option<String>,
    #[schema(max_length = 100)]
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: Option<String>,
    /// E.164.
    #[schema(pattern = "^\\+[1-9][0-9]{6,14}$")]
    pub phone: Option<String>,
    pub email: Option<String>,
    /// `https://...`
    pub website: Option<String>,
    /// ISO 639-1 codes.
    #[serde(default)]
    pub languages: Vec<String>,
    #[schema(max_length = 300)]
    pub opening_hours: Option<String>,
    pub accepts_referrals: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProvider {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub kind: Option<ProviderKind>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub address: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub city: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    #[schema(pattern = "^\\+[1-9][0-9]{6,14}$")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub website: Option<Option<String>>,
    /// Replaces the whole set.
    pub languages: Option<Vec<String>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub opening_hours: Option<Option<String>>,
    pub accepts_referrals: Option<bool>,
    /// `false` retires the entry: it stays on past referrals but takes no new ones.
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProviders {
    pub kind: Option<ProviderKind>,
    pub city: Option<String>,
    /// ISO 639-1: providers serving in this language.
    #[param(pattern = "^[a-z]{2}$")]
    pub language: Option<String>,
    pub accepts_referrals: Option<bool>,
    pub active: Option<bool>,
    /// Part of the name, case- and accent-insensitive.
    pub q: Option<String>,
    /// Changed at or after this time (RFC 3339, years 1900–9999).
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Checks the contact fields shared by create and update.
pub fn check_contact(
    v: &mut Validator,
    country: Option<&str>,
    phone: Option<&str>,
    email: Option<&str>,
    website: Option<&str>,
    languages: Option<&[String]>,
) {
    if let Some(country) = country {
        v.country("country", country);
    }
    if let Some(phone) = phone {
        if !crate::migrants::model::is_e164(phone) {
            v.fail("phone", "must be in E.164 form, e.g. +992372211111");
        }
    }
    if let Some(email) = email {
        v.email("email", email);
    }
    if let Some(website) = website {
        let valid = (website.starts_with("https://") || website.starts_with("http://"))
            && website.len() <= 300
            && !website.contains(char::is_whitespace);
        if !valid {
            v.fail(
                "website",
                "must be an http(s) address of at most 300 characters",
            );
        }
    }
    for (index, language) in languages.unwrap_or_default().iter().enumerate() {
        v.language(&format!("languages[{index}]"), language);
    }
}
