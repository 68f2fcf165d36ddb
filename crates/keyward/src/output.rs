//! Rendering of server responses for people (aligned tables, field lists) and
//! for scripts (`--json`: the server's JSON, pretty-printed).
//!
//! Everything shown comes from the server and may contain text chosen by other
//! administrators (key names, descriptions), so every cell is passed through
//! [`sanitize`]: no control character or terminal escape reaches the terminal.

use std::fmt::Write as _;

use serde_json::Value;

/// Replaces control characters (newlines, tabs, ESC, …) by their escaped form.
pub fn sanitize(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// A JSON value as a table cell: strings as they are, `null`/missing as `-`,
/// numbers and booleans as written, anything else as compact JSON.
pub fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "-".to_owned(),
        Some(Value::String(s)) => sanitize(s),
        Some(Value::Bool(b)) => if *b { "yes" } else { "no" }.to_owned(),
        Some(other) => sanitize(&other.to_string()),
    }
}

/// `value[field]` as a cell, with `absent` for null/missing.
pub fn field_or(value: &Value, field: &str, absent: &str) -> String {
    match value.get(field) {
        None | Some(Value::Null) => absent.to_owned(),
        some => text(some),
    }
}

/// A column-aligned text table. Columns are separated by two spaces; the last
/// column is not padded, so no line ends in whitespace.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self { headers: headers.iter().map(|h| (*h).to_owned()).collect(), rows: Vec::new() }
    }

    /// Adds a row; cells are sanitized. Missing cells are empty, extra ones dropped.
    pub fn push(&mut self, cells: Vec<String>) {
        let mut row: Vec<String> = cells.iter().map(|c| sanitize(c)).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<width$}  ");
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A list of labelled fields, one per line, values aligned. A field with several
/// values shows one per line, continuation lines indented under the first.
#[derive(Debug, Default)]
pub struct Fields {
    rows: Vec<(String, Vec<String>)>,
}

impl Fields {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, label: &str, value: impl Into<String>) -> &mut Self {
        self.rows.push((label.to_owned(), vec![value.into()]));
        self
    }

    /// A multi-valued field; no values shows `-`.
    pub fn add_list(&mut self, label: &str, values: Vec<String>) -> &mut Self {
        let values = if values.is_empty() { vec!["-".to_owned()] } else { values };
        self.rows.push((label.to_owned(), values));
        self
    }

    /// Adds every field of `object` not named in `known`, labelled by its name,
    /// so fields a newer server adds are still shown.
    pub fn add_rest(&mut self, object: &Value, known: &[&str]) -> &mut Self {
        if let Value::Object(map) = object {
            for (name, value) in map {
                if !known.contains(&name.as_str()) {
                    self.add(name, text(Some(value)));
                }
            }
        }
        self
    }

    pub fn render(&self) -> String {
        let width = self.rows.iter().map(|(label, _)| label.chars().count() + 1).max().unwrap_or(0);
        let mut out = String::new();
        for (label, values) in &self.rows {
            for (i, value) in values.iter().enumerate() {
                let label = if i == 0 { format!("{}:", sanitize(label)) } else { String::new() };
                let line = format!("{label:<width$}  {}", sanitize(value));
                out.push_str(line.trim_end());
                out.push('\n');
            }
        }
        out
    }
}

/// The JSON for `--json`: pretty-printed, with a trailing newline.
pub fn json_string(value: &Value) -> String {
    let mut out = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    out.push('\n');
    out
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &Value) {
    emit(&json_string(value));
}

/// Writes `text` to stdout. A closed pipe (`keyward keys list | head -1`) ends
/// the program quietly instead of panicking; any other write error is reported.
pub fn emit(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

/// `print!` through [`emit`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::emit(&format!($($arg)*))
    };
}

/// `println!` through [`emit`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::emit(&format!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// The `items` of a list response (or the response itself when it is an array).
pub fn items(response: &Value) -> &[Value] {
    match response {
        Value::Array(items) => items,
        other => other.get("items").and_then(Value::as_array).map_or(&[], Vec::as_slice),
    }
}

/// The `next_cursor` of a list response, if there is a next page.
pub fn next_cursor(response: &Value) -> Option<&str> {
    response.get("next_cursor").and_then(Value::as_str)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn table_aligns_columns_without_trailing_space() {
        let mut t = Table::new(&["ID", "NAME", "STATUS"]);
        t.push(vec!["k1".into(), "a long name".into(), "active".into()]);
        t.push(vec!["key22".into(), "b".into(), "revoked".into()]);
        assert_eq!(
            t.render(),
            "ID     NAME         STATUS\n\
             k1     a long name  active\n\
             key22  b            revoked\n"
        );
    }

    #[test]
    fn table_counts_characters_not_bytes_and_pads_short_rows() {
        let mut t = Table::new(&["A", "B"]);
        t.push(vec!["é".into()]);
        t.push(vec!["xy".into(), "z".into(), "dropped".into()]);
        assert_eq!(t.render(), "A   B\né\nxy  z\n");
    }

    #[test]
    fn cells_are_sanitized() {
        let mut t = Table::new(&["NAME"]);
        t.push(vec!["evil\u{1b}[2Jname\nnext".into()]);
        let out = t.render();
        assert!(!out.contains('\u{1b}'));
        assert_eq!(out.lines().count(), 2);
        assert!(out.contains("evil\\u{1b}[2Jname\\nnext"));
    }

    #[test]
    fn fields_align_and_continue() {
        let mut f = Fields::new();
        f.add("ID", "k1").add_list("Grants", vec!["a:read".into(), "b:write@1,2".into()]).add_list("Networks", vec![]);
        assert_eq!(
            f.render(),
            "ID:        k1\n\
             Grants:    a:read\n\
             \x20          b:write@1,2\n\
             Networks:  -\n"
        );
    }

    #[test]
    fn values_as_text() {
        assert_eq!(text(None), "-");
        assert_eq!(text(Some(&Value::Null)), "-");
        assert_eq!(text(Some(&json!("x"))), "x");
        assert_eq!(text(Some(&json!(3))), "3");
        assert_eq!(text(Some(&json!(true))), "yes");
        assert_eq!(field_or(&json!({"e": null}), "e", "never"), "never");
        assert_eq!(field_or(&json!({"e": "2030"}), "e", "never"), "2030");
    }

    #[test]
    fn list_helpers() {
        let page = json!({"items": [{"id": 1}], "next_cursor": "c2"});
        assert_eq!(items(&page).len(), 1);
        assert_eq!(next_cursor(&page), Some("c2"));
        assert_eq!(next_cursor(&json!({"items": [], "next_cursor": null})), None);
        assert_eq!(items(&json!([1, 2])).len(), 2);
        assert_eq!(json_string(&json!({"a": 1})), "{\n  \"a\": 1\n}\n");
    }
}
