//! Escaping of text that enters a query: PromQL string literals and RE2 regular expressions.

/// The PromQL double-quoted string literal whose value is exactly `value`.
///
/// Backslashes and quotes are escaped, and control characters are written as `\uXXXX`, so no
/// input can end the string early or smuggle a line break into the query.
pub fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            // Prometheus' lexer stops at U+FFFD (its invalid-rune marker), so it travels escaped.
            '\u{FFFD}' => quoted.push_str("\\ufffd"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The RE2 regular expression that matches exactly `value` and nothing else (Go's `QuoteMeta`).
pub fn escape_regex(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(
            c,
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$'
        ) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A RE2 expression that matches no string at all, not even the empty one.
pub(crate) const MATCH_NOTHING: &str = r"[^\x00-\x{10FFFF}]";
