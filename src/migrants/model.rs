//! Migrant records: stored row, wire types, and validation.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::db::schema::migrants;
use crate::error::ApiError;
use crate::time::Timestamp;
use crate::validation::Validator;

crate::text_enum!(
    /// Sex as the migrant states it.
    Sex { Female => "female", Male => "male", Other => "other", Undisclosed => "undisclosed" }
);

crate::text_enum!(
    MigrationStatus {
        Prospective => "prospective",
        CurrentAbroad => "current_abroad",
        Returnee => "returnee",
        FamilyMember => "family_member",
        Other => "other",
    }
);

crate::text_enum!(
    /// Vulnerability flags that shape how a centre follows a person up.
    Vulnerability {
        UnaccompaniedMinor => "unaccompanied_minor",
        Disability => "disability",
        ChronicIllness => "chronic_illness",
        Pregnancy => "pregnancy",
        SingleParent => "single_parent",
        TraffickingSurvivor => "trafficking_survivor",
        ViolenceSurvivor => "violence_survivor",
        StrandedAbroad => "stranded_abroad",
        Undocumented => "undocumented",
        DebtBondage => "debt_bondage",
        OlderPerson => "older_person",
        Other => "other",
    }
);

crate::text_enum!(
    ConsentScope { Services => "services", ReferralSharing => "referral_sharing", Statistics => "statistics" }
);

/// The record as handlers use it. Load it with `Migrant::as_select()`: the anonymisation
/// columns are not fields, so a save can never clear them and a registration leaves them null.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Identifiable, AsChangeset)]
#[diesel(table_name = migrants, treat_none_as_null = true, treat_none_as_default_value = false)]
pub struct Migrant {
    pub id: String,
    pub centre_id: String,
    pub registered_by: String,
    pub given_name: String,
    pub family_name: String,
    pub patronymic: Option<String>,
    pub sex: Sex,
    pub date_of_birth: Option<NaiveDate>,
    pub birth_year: Option<i32>,
    pub nationality: String,
    pub region_of_origin: Option<String>,
    pub phone: Option<String>,
    pub preferred_language: Option<String>,
    pub migration_status: MigrationStatus,
    pub destination_country: Option<String>,
    pub consent_services_given_at: Option<NaiveDateTime>,
    pub consent_services_withdrawn_at: Option<NaiveDateTime>,
    pub consent_referral_sharing_given_at: Option<NaiveDateTime>,
    pub consent_referral_sharing_withdrawn_at: Option<NaiveDateTime>,
    pub consent_statistics_given_at: Option<NaiveDateTime>,
    pub consent_statistics_withdrawn_at: Option<NaiveDateTime>,
    pub version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

crate::versioned!(Migrant, migrants);

impl Migrant {
    /// (given_at, withdrawn_at) of a consent scope.
    pub fn consent(&self, scope: ConsentScope) -> (Option<NaiveDateTime>, Option<NaiveDateTime>) {
        match scope {
            ConsentScope::Services => (
                self.consent_services_given_at,
                self.consent_services_withdrawn_at,
            ),
            ConsentScope::ReferralSharing => (
                self.consent_referral_sharing_given_at,
                self.consent_referral_sharing_withdrawn_at,
            ),
            ConsentScope::Statistics => (
                self.consent_statistics_given_at,
                self.consent_statistics_withdrawn_at,
            ),
        }
    }

    pub fn set_consent(
        &mut self,
        scope: ConsentScope,
        given: Option<NaiveDateTime>,
        withdrawn: Option<NaiveDateTime>,
    ) {
        match scope {
            ConsentScope::Services => {
                self.consent_services_given_at = given;
                self.consent_services_withdrawn_at = withdrawn;
            }
            ConsentScope::ReferralSharing => {
                self.consent_referral_sharing_given_at = given;
                self.consent_referral_sharing_withdrawn_at = withdrawn;
            }
            ConsentScope::Statistics => {
                self.consent_statistics_given_at = given;
                self.consent_statistics_withdrawn_at = withdrawn;
            }
        }
    }

    /// Whether a consent scope is currently given (given and not withdrawn since).
    pub fn has_consent(&self, scope: ConsentScope) -> bool {
        matches!(self.consent(scope), (Some(_), None))
    }
}

/// One consent scope: given when, withdrawn when.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentState {
    /// True when consent is given and not withdrawn.
    pub given: bool,
    pub given_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConsentResponse {
    pub services: ConsentState,
    pub referral_sharing: ConsentState,
    pub statistics: ConsentState,
}

/// Consent as recorded at registration.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// Consent to receive services and have the record kept.
    pub services: bool,
    /// Consent to share details with a service provider when referred.
    pub referral_sharing: bool,
    /// Consent to be counted in (anonymised) statistics.
    pub statistics: bool,
}

/// Consent changes: `true` gives consent, `false` withdraws it (recorded, never deleted).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentChange {
    pub services: Option<bool>,
    pub referral_sharing: Option<bool>,
    pub statistics: Option<bool>,
}

impl ConsentChange {
    pub fn changes(&self) -> Vec<(ConsentScope, bool)> {
        [
            (ConsentScope::Services, self.services),
            (ConsentScope::ReferralSharing, self.referral_sharing),
            (ConsentScope::Statistics, self.statistics),
        ]
        .into_iter()
        .filter_map(|(scope, value)| value.map(|v| (scope, v)))
        .collect()
    }
}

/// A full migrant record.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MigrantResponse {
    pub id: String,
    pub centre_id: String,
    pub registered_by: String,
    #[schema(example = "Gulru")]
    pub given_name: String,
    #[schema(example = "Jabborzoda")]
    pub family_name: String,
    pub patronymic: Option<String>,
    pub sex: Sex,
    pub date_of_birth: Option<NaiveDate>,
    pub birth_year: Option<i32>,
    #[schema(example = "TJ")]
    pub nationality: String,
    pub region_of_origin: Option<String>,
    #[schema(example = "+992901234567")]
    pub phone: Option<String>,
    #[schema(example = "tg")]
    pub preferred_language: Option<String>,
    pub migration_status: MigrationStatus,
    #[schema(example = "RU")]
    pub destination_country: Option<String>,
    pub vulnerabilities: Vec<Vulnerability>,
    pub consent: ConsentResponse,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl MigrantResponse {
    pub fn new(m: Migrant, mut vulnerabilities: Vec<Vulnerability>) -> Self {
        vulnerabilities.sort();
        let state = |scope| {
            let (given_at, withdrawn_at) = m.consent(scope);
            ConsentState {
                given: given_at.is_some() && withdrawn_at.is_none(),
                given_at: given_at.map(crate::time::utc),
                withdrawn_at: withdrawn_at.map(crate::time::utc),
            }
        };
        let consent = ConsentResponse {
            services: state(ConsentScope::Services),
            referral_sharing: state(ConsentScope::ReferralSharing),
            statistics: state(ConsentScope::Statistics),
        };
        Self {
            id: m.id,
            centre_id: m.centre_id,
            registered_by: m.registered_by,
            given_name: m.given_name,
            family_name: m.family_name,
            patronymic: m.patronymic,
            sex: m.sex,
            date_of_birth: m.date_of_birth,
            birth_year: m.birth_year,
            nationality: m.nationality,
            region_of_origin: m.region_of_origin,
            phone: m.phone,
            preferred_language: m.preferred_language,
            migration_status: m.migration_status,
            destination_country: m.destination_country,
            vulnerabilities,
            consent,
            version: m.version,
            created_at: crate::time::utc(m.created_at),
            updated_at: crate::time::utc(m.updated_at),
        }
    }
}

/// What a search shows: enough to recognise a person, nothing more.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MigrantSummary {
    pub id: String,
    pub given_name: String,
    pub family_name: String,
    pub patronymic: Option<String>,
    pub sex: Sex,
    pub birth_year: Option<i32>,
    #[schema(pattern = "^[A-Z]{2}$")]
    pub nationality: String,
    /// Country code and last two digits only, e.g. `+992*******67`.
    pub phone_masked: Option<String>,
    pub open_case_count: i64,
    /// Counsellors assigned to this person's open cases.
    pub open_case_counsellors: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 6))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"given_name": "Gulru", "family_name": "Jabborzoda", "sex": "female", "birth_year": 1994, "nationality": "TJ", "region_of_origin": "Khatlon", "phone": "+992901234567", "preferred_language": "tg", "migration_status": "prospective", "destination_country": "RU", "vulnerabilities": ["single_parent"], "consent": {"services": true, "referral_sharing": true, "statistics": true}}))]
pub struct CreateMigrant {
    #[schema(example = "Gulru", min_length = 1, max_length = 100)]
    pub given_name: String,
    #[schema(example = "Jabborzoda", min_length = 1, max_length = 100)]
    pub family_name: String,
    #[schema(min_length = 1, max_length = 100)]
    pub patronymic: Option<String>,
    pub sex: Sex,
    /// Exact date of birth (not in the future, age at most 110); or give `birth_year` alone
    /// when the date is unknown.
    pub date_of_birth: Option<NaiveDate>,
    #[schema(example = 1994)]
    pub birth_year: Option<i32>,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "TJ")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub nationality: String,
    #[schema(example = "Khatlon", min_length = 1, max_length = 100)]
    pub region_of_origin: Option<String>,
    /// E.164, e.g. `+992901234567`.
    #[schema(example = "+992901234567")]
    #[schema(pattern = "^\\+[1-9][0-9]{6,14}$")]
    pub phone: Option<String>,
    /// ISO 639-1.
    #[schema(example = "tg")]
    #[schema(pattern = "^[a-z]{2}$")]
    pub preferred_language: Option<String>,
    pub migration_status: MigrationStatus,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "RU")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub destination_country: Option<String>,
    #[serde(default)]
    pub vulnerabilities: Vec<Vulnerability>,
    pub consent: ConsentInput,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phone": "+992901234568", "consent": {"referral_sharing": false}}))]
pub struct UpdateMigrant {
    #[schema(min_length = 1, max_length = 100)]
    pub given_name: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub family_name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub patronymic: Option<Option<String>>,
    pub sex: Option<Sex>,
    /// Not in the future, age at most 110; `null` clears it.
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub date_of_birth: Option<Option<NaiveDate>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub birth_year: Option<Option<i32>>,
    #[schema(pattern = "^[A-Z]{2}$")]
    pub nationality: Option<String>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    pub region_of_origin: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    #[schema(pattern = "^\\+[1-9][0-9]{6,14}$")]
    pub phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    #[schema(pattern = "^[a-z]{2}$")]
    pub preferred_language: Option<Option<String>>,
    pub migration_status: Option<MigrationStatus>,
    #[serde(default, deserialize_with = "crate::http::json::nullable")]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub destination_country: Option<Option<String>>,
    /// Replaces the whole set.
    pub vulnerabilities: Option<Vec<Vulnerability>>,
    pub consent: Option<ConsentChange>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMigrants {
    /// Name search in any script: every word must match the start of one of the names.
    pub q: Option<String>,
    pub sex: Option<Sex>,
    #[param(pattern = "^[A-Z]{2}$")]
    pub nationality: Option<String>,
    pub migration_status: Option<MigrationStatus>,
    /// Only records changed at or after this time (RFC 3339, years 1900–9999).
    pub updated_since: Option<Timestamp>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DuplicateQuery {
    #[param(example = "Gulru")]
    pub given_name: String,
    #[param(example = "Jabborzoda")]
    pub family_name: String,
    pub patronymic: Option<String>,
    /// Not in the future, age at most 110.
    pub date_of_birth: Option<NaiveDate>,
    pub birth_year: Option<i32>,
    pub sex: Option<Sex>,
}

/// A registered person who may be the one about to be registered.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DuplicateCandidate {
    /// 0 (unlike) to 1 (same name, birth date and sex).
    pub score: f64,
    /// Which fields agree: `name`, `date_of_birth`, `birth_year`, `sex`.
    pub matched: Vec<String>,
    pub migrant: MigrantSummary,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DuplicateCandidates {
    pub items: Vec<DuplicateCandidate>,
}

pub fn is_e164(phone: &str) -> bool {
    let digits = phone.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Checks a birth date or year: not in the future, age at most 110.
pub fn check_birth(v: &mut Validator, date_of_birth: Option<NaiveDate>, birth_year: Option<i32>) {
    let today = Utc::now().date_naive();
    if let Some(dob) = date_of_birth {
        if dob > today {
            v.fail("date_of_birth", "must not be in the future");
        } else if today.years_since(dob).is_none_or(|age| age > 110) {
            // Age in completed years: someone turning 111 tomorrow is still 110 today.
            v.fail("date_of_birth", "gives an age over 110");
        }
        if let Some(year) = birth_year {
            if year != dob.year() {
                v.fail("birth_year", "does not match date_of_birth");
            }
        }
    } else if let Some(year) = birth_year {
        let age = i64::from(today.year()) - i64::from(year);
        if !(0..=110).contains(&age) {
            v.fail(
                "birth_year",
                format!(
                    "must be between {} and {}",
                    today.year() - 110,
                    today.year()
                ),
            );
        }
    }
}

pub fn check_optional_codes(
    v: &mut Validator,
    phone: Option<&str>,
    preferred_language: Option<&str>,
    destination_country: Option<&str>,
) {
    if let Some(phone) = phone {
        if !is_e164(phone) {
            v.fail("phone", "must be in E.164 form, e.g. +992901234567");
        }
    }
    if let Some(language) = preferred_language {
        v.language("preferred_language", language);
    }
    if let Some(country) = destination_country {
        v.country("destination_country", country);
    }
}

impl CreateMigrant {
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut v = Validator::new();
        v.text("given_name", &self.given_name, 1, 100);
        v.text("family_name", &self.family_name, 1, 100);
        v.optional_text("patronymic", self.patronymic.as_deref(), 1, 100);
        v.optional_text("region_of_origin", self.region_of_origin.as_deref(), 1, 100);
        v.country("nationality", &self.nationality);
        check_birth(&mut v, self.date_of_birth, self.birth_year);
        check_optional_codes(
            &mut v,
            self.phone.as_deref(),
            self.preferred_language.as_deref(),
            self.destination_country.as_deref(),
        );
        v.finish()
    }
}

impl UpdateMigrant {
    /// Checks each given field on its own (before the record is read, so that bad input is a
    /// 400 whatever the version); rules that combine fields are checked on the merged record.
    pub fn validate(&self) -> Result<(), ApiError> {
        let mut v = Validator::new();
        v.optional_text("given_name", self.given_name.as_deref(), 1, 100);
        v.optional_text("family_name", self.family_name.as_deref(), 1, 100);
        v.optional_text(
            "patronymic",
            self.patronymic.clone().flatten().as_deref(),
            1,
            100,
        );
        v.optional_text(
            "region_of_origin",
            self.region_of_origin.clone().flatten().as_deref(),
            1,
            100,
        );
        if let Some(nationality) = &self.nationality {
            v.country("nationality", nationality);
        }
        check_birth(&mut v, self.date_of_birth.flatten(), None);
        check_birth(&mut v, None, self.birth_year.flatten());
        check_optional_codes(
            &mut v,
            self.phone.clone().flatten().as_deref(),
            self.preferred_language.clone().flatten().as_deref(),
            self.destination_country.clone().flatten().as_deref(),
        );
        v.finish()
    }
}
