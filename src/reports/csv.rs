//! The CSV form of a report: RFC 4180, UTF-8 with a byte-order mark (so spreadsheets read
//! Cyrillic names right), the same rows and suppression as the JSON, and the total last.

use serde_json::Value;

use super::model::{ConsultationsReport, GroupBy};
use crate::error::ApiError;

const BOM: &str = "\u{feff}";

/// The columns of a report broken down by `group_by`: each dimension (the centre and the
/// counsellor followed by their names), then the counts.
fn columns(group_by: &[GroupBy]) -> Vec<&'static str> {
    let mut columns = Vec::new();
    for dim in group_by {
        columns.push(dim.as_str());
        match dim {
            GroupBy::Centre => columns.push("centre_name"),
            GroupBy::Counsellor => columns.push("counsellor_name"),
            _ => {}
        }
    }
    columns.extend(["consultations", "people", "new_people", "suppressed"]);
    columns
}

/// A text a spreadsheet would run as a formula gets a leading apostrophe, as OWASP's
/// CSV-injection guidance says: names typed by users reach these cells.
fn neutralised(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    }
}

fn cell(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => neutralised(text),
        Some(other) => other.to_string(),
    }
}

pub fn render(report: &ConsultationsReport) -> Result<Vec<u8>, ApiError> {
    let columns = columns(&report.group_by);
    let mut writer = ::csv::Writer::from_writer(BOM.as_bytes().to_vec());
    writer.write_record(&columns).map_err(ApiError::internal)?;
    for row in &report.rows {
        let row = serde_json::to_value(row).map_err(ApiError::internal)?;
        let cells = columns.iter().map(|column| cell(row.get(*column)));
        writer.write_record(cells).map_err(ApiError::internal)?;
    }
    let total = serde_json::to_value(&report.total).map_err(ApiError::internal)?;
    let cells = columns.iter().map(|column| match total.get(*column) {
        Some(value) => cell(Some(value)),
        None if report.group_by.iter().any(|d| d.as_str() == *column) => "total".to_owned(),
        None => String::new(),
    });
    writer.write_record(cells).map_err(ApiError::internal)?;
    writer.into_inner().map_err(ApiError::internal)
}
