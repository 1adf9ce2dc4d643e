//! What a command prints: text for people, JSON for scripts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

/// A command's result, in both forms; `--json` picks one.
#[derive(Debug)]
pub(crate) struct Output {
    human: String,
    json: Value,
    /// Said on standard error in human mode only (a script reads the JSON, a person must not miss it).
    warning: Option<String>,
}

impl Output {
    pub(crate) fn new(human: impl Into<String>, json: Value) -> Output {
        Output { human: human.into(), json, warning: None }
    }

    pub(crate) fn with_warning(mut self, warning: impl Into<String>) -> Output {
        self.warning = Some(warning.into());
        self
    }

    pub(crate) fn print(&self, json: bool) {
        if json {
            // Serialising a Value cannot fail.
            println!("{}", serde_json::to_string_pretty(&self.json).unwrap_or_default());
            return;
        }
        if !self.human.is_empty() {
            println!("{}", self.human.trim_end());
        }
        if let Some(warning) = &self.warning {
            eprintln!("warning: {warning}");
        }
    }
}

/// Columns aligned with two spaces between them; `empty` instead when there are no rows.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>], empty: &str) -> String {
    if rows.is_empty() {
        return empty.to_owned();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let pad = width.saturating_sub(cell.chars().count());
            line.push_str(cell);
            line.push_str(&" ".repeat(pad + 2));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// A duration for people: `45s`, `12m`, `3h5m`, `2d4h`.
pub(crate) fn short_duration(duration: Duration) -> String {
    let s = duration.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 if (s % 3600) / 60 == 0 => format!("{}h", s / 3600),
        3600..86400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86400, (s % 86400) / 3600),
    }
}

/// How long ago `time` was, for people (`5s ago`); `in the future` for clock skew between hosts.
pub(crate) fn ago(time: SystemTime, now: SystemTime) -> String {
    match now.duration_since(time) {
        Ok(elapsed) => format!("{} ago", short_duration(elapsed)),
        Err(_) => "in the future".to_owned(),
    }
}

/// Seconds since the Unix epoch, for JSON (negative before it).
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// An optional text for a table cell: `-` when absent or empty.
pub(crate) fn cell(text: Option<&str>) -> String {
    match text {
        Some(text) if !text.is_empty() => text.to_owned(),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_trims_line_ends() {
        let rows = vec![vec!["4000".to_owned(), "alice".to_owned()], vec!["40001".to_owned(), "b".to_owned()]];
        assert_eq!(table(&["EXT", "NAME"], &rows, "none"), "EXT    NAME\n4000   alice\n40001  b\n");
        assert_eq!(table(&["EXT"], &[], "no users"), "no users");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(short_duration(Duration::from_secs(45)), "45s");
        assert_eq!(short_duration(Duration::from_secs(3540)), "59m");
        assert_eq!(short_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(short_duration(Duration::from_secs(3700)), "1h1m");
        assert_eq!(short_duration(Duration::from_secs(90000)), "1d1h");
    }
}
