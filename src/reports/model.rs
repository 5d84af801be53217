use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::consultations::model::{AgeBand, Channel, Topic};
use crate::error::ApiError;
use crate::migrants::model::{MigrationStatus, Sex};
use crate::validation::Validator;

crate::text_enum!(
    /// A dimension a consultations report can be broken down by.
    GroupBy {
        Month => "month",
        Week => "week",
        Centre => "centre",
        Channel => "channel",
        Topic => "topic",
        Sex => "sex",
        AgeBand => "age_band",
        Nationality => "nationality",
        MigrationStatus => "migration_status",
        DestinationCountry => "destination_country",
        Counsellor => "counsellor",
    }
);

/// The most dimensions one report may combine.
pub const MAX_GROUPS: usize = 3;

/// The longest period one report may cover.
const MAX_SPAN_MONTHS: u32 = 60;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsultationsReportQuery {
    /// First day of the period (RFC 3339 full date, UTC), included.
    #[param(value_type = String, format = Date, example = "2026-01-01")]
    pub from: NaiveDate,
    /// Day after the period (RFC 3339 full date, UTC), excluded: `from=2026-01-01&to=2026-02-01`
    /// is January. After `from`, at most five years later.
    #[param(value_type = String, format = Date, example = "2026-02-01")]
    pub to: NaiveDate,
    /// One to three of `month`, `week`, `centre`, `channel`, `topic`, `sex`, `age_band`,
    /// `nationality`, `migration_status`, `destination_country`, `counsellor`,
    /// comma-separated. `counsellor` is for supervisors only.
    #[param(example = "month,sex")]
    pub group_by: String,
    /// Admins: one centre (default: every centre). Supervisors: their own centre only.
    pub centre_id: Option<String>,
}

/// A checked report request.
#[derive(Debug, Clone)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: Vec<GroupBy>,
}

impl ConsultationsReportQuery {
    pub fn check(&self) -> Result<Period, ApiError> {
        let mut v = Validator::new();
        let earliest = NaiveDate::from_ymd_opt(crate::time::EARLIEST_YEAR, 1, 1);
        if Some(self.from) < earliest || self.to.year() > crate::time::LATEST_YEAR {
            v.fail("from", "must be a date between 1900-01-01 and 9999-12-31");
        } else if self.to <= self.from {
            v.fail("to", "must be after from");
        } else if self.from.checked_add_months(Months::new(MAX_SPAN_MONTHS)) < Some(self.to) {
            v.fail("to", "must be at most five years after from");
        }
        let group_by = parse_group_by(&mut v, &self.group_by);
        v.finish()?;
        Ok(Period {
            from: self.from,
            to: self.to,
            group_by,
        })
    }
}

fn parse_group_by(v: &mut Validator, text: &str) -> Vec<GroupBy> {
    let mut dimensions = Vec::new();
    for name in text.split(',').map(str::trim) {
        match GroupBy::ALL.iter().find(|d| d.as_str() == name) {
            Some(d) if dimensions.contains(d) => {
                v.fail("group_by", format!("`{name}` is named twice"));
            }
            Some(d) => dimensions.push(*d),
            None => {
                let known: Vec<&str> = GroupBy::ALL.iter().map(|d| d.as_str()).collect();
                v.fail(
                    "group_by",
                    format!("unknown dimension `{name}`; use {}", known.join(", ")),
                );
            }
        }
    }
    if dimensions.len() > MAX_GROUPS {
        v.fail("group_by", format!("at most {MAX_GROUPS} dimensions"));
    }
    dimensions
}

/// The numbers of one cell. When disclosure control hides it, every number is `null` and
/// `suppressed` is true.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Counts {
    /// Consultations in the cell.
    pub consultations: Option<i64>,
    /// Distinct registered migrants, plus each anonymous consultation as one person.
    pub people: Option<i64>,
    /// Of `people`, those whose first consultation ever falls in the period (in the row's
    /// month or week when grouped by one); every anonymous consultation counts as new.
    pub new_people: Option<i64>,
    /// Hidden by disclosure control (admins' reports only).
    pub suppressed: bool,
}

/// One row: the values of the requested dimensions (the others are absent) and its counts.
/// A dimension whose value is not recorded (age of a migrant registered without a birth date
/// or year, destination of an anonymous consultation) is `null`.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ConsultationsRow {
    /// `YYYY-MM` (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-01")]
    pub month: Option<String>,
    /// ISO 8601 week, `YYYY-Www` (weeks start on Monday, UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "2026-W02")]
    pub week: Option<String>,
    /// The centre's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre: Option<String>,
    /// The centre's name (with `centre`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub centre_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// A consultation with several topics is counted in the row of each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    /// At the consultation's date: from the birth date, else the birth year (the age reached
    /// that year); anonymous consultations carry the band recorded with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_band: Option<Option<AgeBand>>,
    /// ISO 3166-1 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nationality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration_status: Option<MigrationStatus>,
    /// ISO 3166-1 alpha-2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_country: Option<Option<String>>,
    /// The counsellor's user id (supervisors only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counsellor: Option<String>,
    /// The counsellor's full name (with `counsellor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counsellor_name: Option<String>,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Consultations in a period, broken down by up to three dimensions.
///
/// A consultation with several topics counts once in every topic row, so topic rows add up to
/// more than the total; `total` counts each consultation and person once.
///
/// Disclosure control (admins' reports): a cell counting 1–4 people is suppressed (all its
/// numbers `null`, `suppressed: true`). When exactly one row is suppressed and the total is
/// shown, the row with the next-smallest number of people is suppressed too, so the hidden
/// one cannot be worked out by subtracting the others from the total. A total of 1–4 people is
/// itself suppressed. Supervisors' reports on their own centre are not suppressed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConsultationsReport {
    #[schema(value_type = String, format = Date)]
    pub from: NaiveDate,
    #[schema(value_type = String, format = Date)]
    pub to: NaiveDate,
    pub group_by: Vec<GroupBy>,
    /// The centre reported on; `null`: every centre.
    pub centre_id: Option<String>,
    /// Whether disclosure control was applied (admins' reports).
    pub disclosure_control: bool,
    /// Ordered by the dimensions' values in `group_by` order (`null` last).
    pub rows: Vec<ConsultationsRow>,
    pub total: Counts,
}
