//! `agentry cost`: cost reports as a table, JSON or CSV.

use serde::Serialize;

use agentry_sdk::proto::CostRow;

use super::{render_table, rfc3339};

/// Output format of `agentry cost`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CostFormat {
    /// Aligned columns for people, with a total line.
    Table,
    /// A JSON array for programs.
    Json,
    /// CSV (RFC 4180 quoting, a header line) for spreadsheets.
    Csv,
}

/// A row in `cost --output json`; also the CSV columns, in order.
#[derive(Serialize)]
struct CostJson<'a> {
    key: &'a str,
    /// With `--bucket`: the start of the row's time bucket, RFC 3339 (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    bucket: Option<String>,
    calls: u64,
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
    cost_usd: f64,
}

/// The CSV header: the fields of [`CostJson`] but `bucket`.
const CSV_HEADER: [&str; 6] = ["key", "calls", "input_tokens", "output_tokens", "total_tokens", "cost_usd"];

/// Returns the start of a row's time bucket, RFC 3339 with milliseconds (UTC); `None` for a
/// report without buckets.
fn bucket(row: &CostRow) -> Option<String> {
    rfc3339(row.bucket_start.as_ref())
}

/// Returns `rows` as a table: `group` (the grouping's column title, e.g. `AGENT`), BUCKET (the
/// start of the row's time bucket, when `bucketed`), CALLS, INPUT, OUTPUT, TOTAL (tokens), COST
/// (USD, 6 decimals); a `total` line follows when there is more than one row.
pub fn cost_table(rows: &[CostRow], group: &str, bucketed: bool) -> String {
    let bucket_cell = |row: &CostRow| bucketed.then(|| bucket(row).unwrap_or_else(|| "-".to_owned()));
    let mut cells: Vec<Vec<String>> = rows.iter().map(|row| table_cells(&row.key, bucket_cell(row), row)).collect();
    if rows.len() > 1 {
        let total = rows.iter().fold(CostRow::default(), |sum, row| CostRow {
            calls: sum.calls + row.calls,
            input_tokens: sum.input_tokens + row.input_tokens,
            output_tokens: sum.output_tokens + row.output_tokens,
            total_tokens: sum.total_tokens + row.total_tokens,
            cost_usd: sum.cost_usd + row.cost_usd,
            ..sum
        });
        cells.push(table_cells("total", bucketed.then(|| "-".to_owned()), &total));
    }
    let mut headers = vec![group, "CALLS", "INPUT", "OUTPUT", "TOTAL", "COST (USD)"];
    if bucketed {
        headers.insert(1, "BUCKET");
    }
    render_table(&headers, &cells)
}

fn table_cells(key: &str, bucket: Option<String>, row: &CostRow) -> Vec<String> {
    let counts = [
        row.calls.to_string(),
        row.input_tokens.to_string(),
        row.output_tokens.to_string(),
        row.total_tokens.to_string(),
        format!("{:.6}", row.cost_usd),
    ];
    std::iter::once(key.to_owned()).chain(bucket).chain(counts).collect()
}

fn json_row(row: &CostRow) -> CostJson<'_> {
    CostJson {
        key: &row.key,
        bucket: bucket(row),
        calls: row.calls,
        input_tokens: row.input_tokens,
        output_tokens: row.output_tokens,
        total_tokens: row.total_tokens,
        cost_usd: row.cost_usd,
    }
}

/// Returns `rows` as a pretty JSON array of `{key, calls, input_tokens, output_tokens,
/// total_tokens, cost_usd}` (tokens as integers, cost in USD), with `bucket` (RFC 3339, after
/// `key`) in a report split into time buckets.
pub fn cost_json(rows: &[CostRow]) -> serde_json::Result<String> {
    serde_json::to_string_pretty(&rows.iter().map(json_row).collect::<Vec<_>>())
}

/// Returns `rows` as CSV: the header `key,calls,input_tokens,output_tokens,total_tokens,cost_usd`
/// (with `bucket`, RFC 3339, after `key` when `bucketed`), then one line per row (lines end
/// with `\n`; no final line end). The cost is the shortest decimal that reads back as the same
/// number.
pub fn cost_csv(rows: &[CostRow], bucketed: bool) -> String {
    let mut header = CSV_HEADER.to_vec();
    if bucketed {
        header.insert(1, "bucket");
    }
    let mut lines = vec![header.join(",")];
    for row in rows {
        let bucket = bucketed.then(|| bucket(row).unwrap_or_default());
        let counts = [
            row.calls.to_string(),
            row.input_tokens.to_string(),
            row.output_tokens.to_string(),
            row.total_tokens.to_string(),
            row.cost_usd.to_string(),
        ];
        let fields: Vec<String> = std::iter::once(csv_field(&row.key)).chain(bucket).chain(counts).collect();
        lines.push(fields.join(","));
    }
    lines.join("\n")
}

/// Quotes a CSV field as RFC 4180 says: in double quotes, doubling those inside, when it holds
/// a comma, a double quote or a line break; otherwise as is.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn rows() -> Vec<CostRow> {
        vec![
            CostRow {
                key: "gpt".to_owned(),
                calls: 3,
                input_tokens: 1150,
                output_tokens: 115,
                total_tokens: 1265,
                cost_usd: 0.875,
                bucket_start: None,
            },
            CostRow {
                key: "a,\"b\"".to_owned(),
                calls: 1,
                input_tokens: 10,
                output_tokens: 1,
                total_tokens: 11,
                cost_usd: 0.0,
                bucket_start: None,
            },
        ]
    }

    #[test]
    fn the_table_ends_with_the_total() {
        let table = cost_table(&rows(), "MODEL", false);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "MODEL   CALLS   INPUT   OUTPUT   TOTAL   COST (USD)");
        assert_eq!(lines[1], "gpt     3       1150    115      1265    0.875000");
        assert_eq!(lines[3], "total   4       1160    116      1276    0.875000");
        assert_eq!(cost_table(&rows()[..1], "MODEL", false).lines().count(), 2, "one row needs no total");
        assert_eq!(cost_table(&[], "DAY", false), "DAY   CALLS   INPUT   OUTPUT   TOTAL   COST (USD)");
    }

    #[test]
    fn json_rows_have_the_documented_shape() {
        let parsed: Value = serde_json::from_str(&cost_json(&rows()).expect("JSON")).expect("parse");
        assert_eq!(
            parsed[0],
            json!({ "key": "gpt", "calls": 3, "input_tokens": 1150, "output_tokens": 115, "total_tokens": 1265,
                    "cost_usd": 0.875 })
        );
        assert_eq!(cost_json(&[]).expect("JSON"), "[]");
    }

    /// Returns the rows split into hourly buckets from 2023-11-14T22:00:00Z.
    fn bucketed_rows() -> Vec<CostRow> {
        rows()
            .into_iter()
            .enumerate()
            .map(|(hour, row)| CostRow {
                bucket_start: Some(agentry_sdk::Timestamp { seconds: 1_699_999_200 + 3600 * hour as i64, nanos: 0 }),
                ..row
            })
            .collect()
    }

    #[test]
    fn buckets_are_a_column_after_the_key() {
        let table = cost_table(&bucketed_rows(), "MODEL", true);
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[0].starts_with("MODEL   BUCKET                     CALLS "), "{table}");
        assert!(lines[1].starts_with("gpt     2023-11-14T22:00:00.000Z   3 "), "{table}");
        assert!(lines[3].starts_with("total   -                          4 "), "{table}");
        assert_eq!(cost_table(&[], "DAY", true), "DAY   BUCKET   CALLS   INPUT   OUTPUT   TOTAL   COST (USD)");

        let parsed: Value = serde_json::from_str(&cost_json(&bucketed_rows()).expect("JSON")).expect("parse");
        assert_eq!(parsed[1]["bucket"], "2023-11-14T23:00:00.000Z");
        let csv = cost_csv(&bucketed_rows(), true);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "key,bucket,calls,input_tokens,output_tokens,total_tokens,cost_usd");
        assert_eq!(lines[1], "gpt,2023-11-14T22:00:00.000Z,3,1150,115,1265,0.875");
    }

    #[test]
    fn csv_quotes_as_rfc_4180_says() {
        assert_eq!(
            cost_csv(&rows(), false),
            "key,calls,input_tokens,output_tokens,total_tokens,cost_usd\n\
             gpt,3,1150,115,1265,0.875\n\
             \"a,\"\"b\"\"\",1,10,1,11,0"
        );
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(csv_field("plain-key"), "plain-key");
    }
}
