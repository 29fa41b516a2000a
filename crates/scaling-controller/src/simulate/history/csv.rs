//! The CSV data format: a header `timestamp,<column>,…`, then one row per step. Blank lines and
//! lines starting with `#` are skipped; fields are not quoted; an empty cell or `NaN` is a
//! missing reading. Errors name `file:line`.

use super::{Column, History, check_step, parse_time, parse_value};
use crate::simulate::{Error, Result};

/// Parses CSV history; `path` names the file in errors.
pub fn parse_csv(text: &str, path: &str) -> Result<History> {
    let error = |line: usize, reason: String| Error::Data {
        place: format!("{path}:{line}"),
        reason,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.trim_end_matches('\r')))
        .filter(|(_, line)| !line.trim().is_empty() && !line.trim_start().starts_with('#'));
    let Some((header_line, header)) = lines.next() else {
        return Err(error(
            1,
            "empty file: expected a header `timestamp,<metric>,…`".to_owned(),
        ));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    if !matches!(names.first(), Some(&"timestamp") | Some(&"time")) {
        return Err(error(
            header_line,
            format!(
                "the header must start with `timestamp`, found {:?}",
                names.first().copied().unwrap_or_default()
            ),
        ));
    }
    let names = &names[1..];
    if names.is_empty() {
        return Err(error(
            header_line,
            "the header names no metric column after `timestamp`".to_owned(),
        ));
    }
    for (index, name) in names.iter().enumerate() {
        if name.is_empty() {
            return Err(error(
                header_line,
                format!("column {} has no name", index + 2),
            ));
        }
        if names[..index].contains(name) {
            return Err(error(header_line, format!("column {name:?} appears twice")));
        }
    }
    let mut columns: Vec<Column> = names
        .iter()
        .map(|name| Column {
            name: (*name).to_owned(),
            values: Vec::new(),
        })
        .collect();
    let mut times: Vec<(usize, i64)> = Vec::new();
    for (line, row) in lines {
        let fields: Vec<&str> = row.split(',').collect();
        if fields.len() != names.len() + 1 {
            return Err(error(
                line,
                format!(
                    "expected {} fields (timestamp and {} columns), found {}",
                    names.len() + 1,
                    names.len(),
                    fields.len()
                ),
            ));
        }
        let time = parse_time(fields[0]).map_err(|reason| error(line, reason))?;
        times.push((line, time));
        for (column, field) in columns.iter_mut().zip(&fields[1..]) {
            let value = parse_value(field)
                .map_err(|reason| error(line, format!("column {}: {reason}", column.name)))?;
            column.values.push(value);
        }
    }
    let Some(&(first_line, start)) = times.first() else {
        return Err(error(header_line, "no rows after the header".to_owned()));
    };
    let step = match times.get(1) {
        Some(&(line, second)) if second <= start => {
            return Err(error(
                line,
                format!("timestamps out of order: this row is not after line {first_line}'s"),
            ));
        }
        Some(&(_, second)) => second - start,
        None => 15_000,
    };
    for pair in times.windows(2) {
        let ((_, previous), (line, time)) = (pair[0], pair[1]);
        check_step(previous, time, step).map_err(|reason| error(line, reason))?;
    }
    Ok(History {
        origin: path.to_owned(),
        start_millis: start,
        step_millis: step,
        len: times.len(),
        columns,
    })
}
