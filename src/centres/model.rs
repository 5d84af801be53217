use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::centres;
use crate::time::Timestamp;

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = centres)]
pub struct Centre {
    pub id: String,
    pub name: String,
    pub city: String,
    pub country: String,
    pub active: bool,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

crate::versioned!(Centre, centres);

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CentreResponse {
    #[schema(example = "01936b2e-7c1a-7d3e-9a51-2f6c1b0e4a11")]
    pub id: String,
    #[schema(example = "MRC Dushanbe")]
    pub name: String,
    #[schema(example = "Dushanbe")]
    pub city: String,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "TJ")]
    pub country: String,
    pub active: bool,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Centre> for CentreResponse {
    fn from(c: Centre) -> Self {
        Self {
            id: c.id,
            name: c.name,
            city: c.city,
            country: c.country,
            active: c.active,
            version: c.version,
            created_at: crate::time::utc(c.created_at),
            updated_at: crate::time::utc(c.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "MRC Dushanbe", "city": "Dushanbe", "country": "TJ"}))]
pub struct CreateCentre {
    #[schema(example = "MRC Dushanbe", min_length = 1, max_length = 200)]
    pub name: String,
    #[schema(example = "Dushanbe", min_length = 1, max_length = 100)]
    pub city: String,
    #[schema(example = "TJ", min_length = 2, max_length = 2)]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCentre {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub city: Option<String>,
    #[schema(min_length = 2, max_length = 2)]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub country: Option<String>,
    /// `false` deactivates the centre (its records stay).
    pub active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListCentres {
    pub active: Option<bool>,
    /// Only centres changed at or after this time (RFC 3339, years 1900–9999).
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
