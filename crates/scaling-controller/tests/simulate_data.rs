//! The data file formats: CSV and JSON, their missing values, and their errors naming the place.

use scaling_controller::simulate::history::{History, parse_csv, parse_json};
use scaling_controller::simulate::{Error, Result};

fn data_error(result: Result<History>) -> (String, String) {
    match result {
        Err(Error::Data { place, reason }) => (place, reason),
        other => panic!("expected a data error, got {other:?}"),
    }
}

#[test]
fn csv_reads_rfc3339_and_unix_seconds_with_missing_cells() {
    let text = "# comment\ntimestamp,a,b\n2026-01-01T00:00:00Z,1,2\n1767225615,,NaN\n\n1767225630.0,3.5,4\n";
    let history = parse_csv(text, "h.csv").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.len, 3);
    assert_eq!(history.step_millis, 15_000);
    assert_eq!(history.start_millis, 1_767_225_600_000);
    assert_eq!(history.columns[0].values, vec![Some(1.0), None, Some(3.5)]);
    assert_eq!(history.columns[1].values, vec![Some(2.0), None, Some(4.0)]);
}

#[test]
fn csv_errors_name_file_and_line() {
    let (place, reason) = data_error(parse_csv("timestamp,a\n0,1\n15,x\n", "h.csv"));
    assert_eq!(place, "h.csv:3");
    assert!(
        reason.contains("column a") && reason.contains("not a number"),
        "{reason}"
    );

    let (place, reason) = data_error(parse_csv("timestamp,a\n0,1\n15,1\n10,1\n", "h.csv"));
    assert_eq!(place, "h.csv:4");
    assert!(reason.contains("out of order"), "{reason}");

    let (place, reason) = data_error(parse_csv("timestamp,a\n0,1\n15,1\n60,1\n", "h.csv"));
    assert_eq!(place, "h.csv:4");
    assert!(reason.contains("gap: 2 steps"), "{reason}");

    let (place, reason) = data_error(parse_csv("timestamp,a\n0,1\n15,1\n20,1\n", "h.csv"));
    assert_eq!(place, "h.csv:4");
    assert!(reason.contains("irregular"), "{reason}");

    let (place, _) = data_error(parse_csv("timestamp,a\n0,1,2\n", "h.csv"));
    assert_eq!(place, "h.csv:2");
    let (place, _) = data_error(parse_csv("when,a\n0,1\n", "h.csv"));
    assert_eq!(place, "h.csv:1");
}

#[test]
fn json_merges_series_onto_one_grid() {
    let text = r#"{"metrics": {"a": [[0, 1], [15, "2"], [30, null]], "b": [["1970-01-01T00:00:15Z", 5]]}}"#;
    let history = parse_json(text, "h.json").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(history.len, 3);
    let a = history.column(0, "a").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(a.values, vec![Some(1.0), Some(2.0), None]);
    let b = history.column(1, "b").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(b.values, vec![None, Some(5.0), None]);
}

#[test]
fn json_errors_name_the_point() {
    let (place, reason) = data_error(parse_json(
        r#"{"metrics": {"a": [[0, 1], [0, 2]]}}"#,
        "h.json",
    ));
    assert_eq!(place, "h.json: metrics.a[1]");
    assert!(reason.contains("out of order"), "{reason}");
    let (place, _) = data_error(parse_json(r#"{"metrics": {"a": [[0, "x"]]}}"#, "h.json"));
    assert_eq!(place, "h.json: metrics.a[0]");
    let (_, reason) = data_error(parse_json(
        r#"{"metrics": {"a": [[0, 1], [15, 1], [60, 1]]}}"#,
        "h.json",
    ));
    assert!(reason.contains("gap"), "{reason}");
}

#[test]
fn column_lookup_prefers_the_index_and_lists_what_exists() {
    let history =
        parse_csv("timestamp,rps,metrics[1]\n0,1,2\n", "h.csv").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        history.column(1, "rps").map(|c| c.name.as_str()).ok(),
        Some("metrics[1]")
    );
    match history.column(0, "latency") {
        Err(error) => assert!(
            error.to_string().contains("it has: rps, metrics[1]"),
            "{error}"
        ),
        Ok(column) => panic!("found {column:?}"),
    }
}
