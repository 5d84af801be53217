//! The CSV form of a report: RFC 4180, UTF-8 with a byte-order mark (so spreadsheets read
//! Cyrillic names right), the same rows and suppression as the JSON, and the total last. The
//! body is streamed, one chunk per row.

use actix_web::web::Bytes;
use futures_util::stream::{self, Stream};
use serde::Serialize;
use serde_json::Value;

use super::model::Dimension;
use super::report::{Built, Kind};

const BOM: &str = "\u{feff}";

/// The columns of a report broken down by `group_by`: each dimension (followed by its label
/// when it has one, such as the centre's name), then the counts.
fn columns<K: Kind>(group_by: &[K::Dim]) -> Vec<&'static str> {
    let mut columns = Vec::new();
    for dim in group_by {
        columns.push(dim.name());
        columns.extend(dim.label());
    }
    columns.extend(K::COUNTS);
    columns.push("suppressed");
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

/// One CSV record, quoted as RFC 4180 requires.
fn record(cells: impl IntoIterator<Item = String>) -> Result<Bytes, std::io::Error> {
    let mut writer = ::csv::Writer::from_writer(Vec::new());
    writer.write_record(cells)?;
    writer
        .into_inner()
        .map(Bytes::from)
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// The cells of a serialised row, or of the total (`totals`: its dimension columns, which
/// read `total`).
fn cells(columns: &[&'static str], value: impl Serialize, totals: &[&str]) -> Vec<String> {
    let value = serde_json::to_value(value).unwrap_or(Value::Null);
    columns
        .iter()
        .map(|column| match value.get(*column) {
            None if totals.contains(column) => "total".to_owned(),
            found => cell(found),
        })
        .collect()
}

/// The report as a stream of CSV chunks: the BOM and header, each row, then the total with
/// `total` in its dimension cells.
pub fn stream<K: Kind>(built: Built<K>) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    let columns = columns::<K>(&built.period.group_by);
    let header = record(columns.iter().map(|c| (*c).to_owned())).map(|line| {
        let mut chunk = BOM.as_bytes().to_vec();
        chunk.extend_from_slice(&line);
        Bytes::from(chunk)
    });
    let for_rows = columns.clone();
    let rows = built
        .rows
        .into_iter()
        .map(move |row| record(cells(&for_rows, row, &[])));
    let dimensions: Vec<&str> = built.period.group_by.iter().map(|d| d.name()).collect();
    let total = record(cells(&columns, built.total, &dimensions));
    stream::iter(
        std::iter::once(header)
            .chain(rows)
            .chain(std::iter::once(total)),
    )
}
