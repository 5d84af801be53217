//! What every report shares: its period, its dimensions and how they are parsed, and the
//! reading of stored values into a row's typed fields.

use chrono::{Datelike, Months, NaiveDate};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::validation::Validator;

/// A dimension one report can be broken down by (each report has its own `text_enum!`).
pub trait Dimension: Copy + PartialEq + Send + 'static {
    fn all() -> &'static [Self];
    fn name(self) -> &'static str;
    /// The column holding the value's display name, shown next to it (`centre_name`).
    fn label(self) -> Option<&'static str>;
    /// A breakdown by staff member: for supervisors only.
    fn is_counsellor(self) -> bool;
}

/// Implements [`Dimension`] for a report's `text_enum!`, naming its centre and counsellor
/// dimensions (the ones with a name shown next to the id) and any other labelled one.
#[macro_export]
macro_rules! report_dimension {
    ($name:ident { $($labelled:ident => $label:literal),* } counsellor: $($counsellor:ident)?) => {
        impl $crate::reports::model::Dimension for $name {
            fn all() -> &'static [Self] {
                Self::ALL
            }

            fn name(self) -> &'static str {
                self.as_str()
            }

            fn label(self) -> Option<&'static str> {
                match self {
                    $($name::$labelled => Some($label),)*
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }

            fn is_counsellor(self) -> bool {
                match self {
                    $($name::$counsellor => true,)?
                    #[allow(unreachable_patterns)]
                    _ => false,
                }
            }
        }
    };
}

/// The most dimensions one report may combine.
pub const MAX_GROUPS: usize = 3;

/// The longest period one report may cover.
const MAX_SPAN_MONTHS: u32 = 60;

/// A checked report request.
#[derive(Debug, Clone)]
pub struct Period<D> {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub group_by: Vec<D>,
}

impl<D: Dimension> Period<D> {
    /// Checks a report's `from`, `to` and `group_by` together, naming every bad field.
    pub fn check(from: NaiveDate, to: NaiveDate, group_by: &str) -> Result<Self, ApiError> {
        let mut v = Validator::new();
        let earliest = NaiveDate::from_ymd_opt(crate::time::EARLIEST_YEAR, 1, 1);
        if Some(from) < earliest || to.year() > crate::time::LATEST_YEAR {
            v.fail("from", "must be a date between 1900-01-01 and 9999-12-31");
        } else if to <= from {
            v.fail("to", "must be after from");
        } else if from.checked_add_months(Months::new(MAX_SPAN_MONTHS)) < Some(to) {
            v.fail("to", "must be at most five years after from");
        }
        let group_by = parse_group_by(&mut v, group_by);
        v.finish()?;
        Ok(Self { from, to, group_by })
    }

    /// The request as the audit trail records it (no people).
    pub fn parameters(&self, report: &str, centre: Option<&str>, csv: bool) -> String {
        let group_by: Vec<&str> = self.group_by.iter().map(|d| d.name()).collect();
        format!(
            "{report}?from={}&to={}&group_by={}&centre_id={}&format={}",
            self.from,
            self.to,
            group_by.join(","),
            centre.unwrap_or("all"),
            if csv { "csv" } else { "json" }
        )
    }
}

fn parse_group_by<D: Dimension>(v: &mut Validator, text: &str) -> Vec<D> {
    let mut dimensions = Vec::new();
    for name in text.split(',').map(str::trim) {
        match D::all().iter().find(|d| d.name() == name) {
            Some(d) if dimensions.contains(d) => {
                v.fail("group_by", format!("`{name}` is named twice"));
            }
            Some(d) => dimensions.push(*d),
            None => {
                let known: Vec<&str> = D::all().iter().map(|d| d.name()).collect();
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

/// A stored vocabulary value as its enum; a value the application does not know fails the
/// request rather than being shown as another.
pub fn stored<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(ApiError::internal)
}

/// Shows a number unless disclosure control hides the cell.
pub fn shown<T>(hidden: bool, value: T) -> Option<T> {
    (!hidden).then_some(value)
}
