//! Naming: how a series name becomes the metric name the API shows, as prometheus-adapter's
//! `name: {matches, as}` does it, plus the default `X_total` → `X_per_second` of counters.
//!
//! `matches` is searched for (not anchored) in the series name; `as` is expanded with its
//! captures exactly as Go's `Regexp.ExpandString` does: `$1` and `${1}` are groups, `$name` takes
//! the longest run of letters, digits and `_` as the group name (so `$1_per_second` names the
//! group `1_per_second`, which is why upstream's docs write `${1}_per_second`), and `$$` is `$`.

use regex::Regex;

use crate::{Error, Result};

/// The suffix by which a series is recognised as a counter.
pub const COUNTER_SUFFIX: &str = "_total";

/// The suffix a counter's rate is served under.
pub const RATE_SUFFIX: &str = "_per_second";

/// `name.matches` of the default counter rule: the part before `_total`.
pub const COUNTER_MATCHES: &str = "^(.+)_total$";

/// `name.as` of the default counter rule: that part, per second.
pub const COUNTER_AS: &str = "${1}_per_second";

/// The compiled `name` section of one rule.
#[derive(Debug, Clone)]
pub struct Naming {
    matches: Regex,
    replacement: String,
}

impl Naming {
    /// Compiles `name.matches` (empty means `.*`) and `name.as` (empty means `$1` with one
    /// capture group, `$0` with none; required with more), as upstream does.
    ///
    /// `at` is the rule's place in the configuration (`rules[2]`) for error messages. The
    /// returned warnings name references in `as` to groups `matches` does not define: upstream
    /// expands them to nothing, so they are kept working the same way but reported.
    pub fn new(matches: &str, replacement: &str, at: &str) -> Result<(Self, Vec<String>)> {
        let pattern = if matches.is_empty() { ".*" } else { matches };
        let matches = Regex::new(pattern).map_err(|source| Error::Regex {
            at: format!("{at}.name.matches"),
            pattern: pattern.to_owned(),
            source: Box::new(source),
        })?;
        let groups = matches.captures_len() - 1;
        let replacement = match (replacement, groups) {
            ("", 0) => "$0".to_owned(),
            ("", 1) => "$1".to_owned(),
            ("", _) => {
                return Err(Error::Invalid {
                    at: format!("{at}.name.as"),
                    reason: format!(
                        "required because name.matches {pattern:?} has {groups} capture groups"
                    ),
                });
            }
            (given, _) => given.to_owned(),
        };
        let warnings = undefined_references(&matches, &replacement)
            .into_iter()
            .map(|group| {
                let hint = if group.starts_with(|c: char| c.is_ascii_digit()) {
                    let digits: String = group.chars().take_while(char::is_ascii_digit).collect();
                    format!(" (write ${{{digits}}} when the group number is followed by text)")
                } else {
                    String::new()
                };
                format!(
                    "{at}.name.as: {replacement:?} refers to group {group:?}, which name.matches \
                     does not define, so it expands to nothing{hint}"
                )
            })
            .collect();
        Ok((
            Naming {
                matches,
                replacement,
            },
            warnings,
        ))
    }

    /// Whether the series name matches `name.matches` (upstream filters series by it too).
    pub fn accepts(&self, series: &str) -> bool {
        self.matches.is_match(series)
    }

    /// The API metric name for a series, or `None` when `matches` does not match or the
    /// expansion is empty or contains `/` (it would not be a valid path segment).
    pub fn api_name(&self, series: &str) -> Option<String> {
        let captures = self.matches.captures(series)?;
        let mut name = String::new();
        captures.expand(&self.replacement, &mut name);
        (!name.is_empty() && !name.contains('/')).then_some(name)
    }

    /// The `matches` pattern in effect, for diagnostics.
    pub fn pattern(&self) -> &str {
        self.matches.as_str()
    }

    /// The `as` replacement in effect (after the defaults), for diagnostics.
    pub fn replacement(&self) -> &str {
        &self.replacement
    }
}

/// The name a counter's rate is served under by default: `X_total` → `X_per_second`.
pub fn rate_name(series: &str) -> Option<String> {
    series
        .strip_suffix(COUNTER_SUFFIX)
        .filter(|stem| !stem.is_empty())
        .map(|stem| format!("{stem}{RATE_SUFFIX}"))
}

/// The group names `replacement` refers to that `regex` does not define.
fn undefined_references(regex: &Regex, replacement: &str) -> Vec<String> {
    let defined = |name: &str| match name.parse::<usize>() {
        Ok(index) => index < regex.captures_len(),
        Err(_) => regex.capture_names().flatten().any(|n| n == name),
    };
    let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut undefined = Vec::new();
    let mut rest = replacement;
    while let Some(position) = rest.find('$') {
        rest = &rest[position + 1..];
        let name = if let Some(tail) = rest.strip_prefix('$') {
            rest = tail;
            continue;
        } else if let Some(braced) = rest.strip_prefix('{') {
            match braced.find('}') {
                Some(end) if braced[..end].chars().all(is_name_char) && end > 0 => {
                    rest = &braced[end + 1..];
                    &braced[..end]
                }
                _ => continue,
            }
        } else {
            let end = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            name
        };
        if !name.is_empty() && !defined(name) {
            undefined.push(name.to_owned());
        }
    }
    undefined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naming(matches: &str, replacement: &str) -> Naming {
        match Naming::new(matches, replacement, "rules[0]") {
            Ok((naming, _)) => naming,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn expands_like_upstream() {
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            // (matches, as, series, API name)
            ("", "", "http_requests_total", Some("http_requests_total")),
            (
                "^(.*)_total$",
                "",
                "http_requests_total",
                Some("http_requests"),
            ),
            (
                "^(.*)_total$",
                "${1}_per_second",
                "http_requests_total",
                Some("http_requests_per_second"),
            ),
            ("^(.*)_total$", "$1", "http_requests", None),
            (
                "_seconds_total$",
                "",
                "cpu_seconds_total",
                Some("_seconds_total"),
            ),
            (
                "^container_(.*)_seconds_total$",
                "",
                "container_cpu_usage_seconds_total",
                Some("cpu_usage"),
            ),
            (
                "^(?P<stem>.*)_count$",
                "${stem}_rate",
                "x_count",
                Some("x_rate"),
            ),
            ("^(a)(b)$", "$2$1", "ab", Some("ba")),
            ("^(.*)$", "$$1", "x", Some("$1")),
            // Go reads `$1_per_second` as the group `1_per_second`: empty, so rejected.
            ("^(.*)_total$", "$1_per_second", "http_requests_total", None),
            ("^(.*)$", "a/b", "x", None),
        ];
        for (matches, replacement, series, expected) in cases {
            assert_eq!(
                naming(matches, replacement).api_name(series).as_deref(),
                *expected,
                "{matches:?} as {replacement:?} on {series:?}"
            );
        }
    }

    #[test]
    fn matches_is_a_search_not_an_anchored_match() {
        let naming = naming("_total", "$0");
        assert!(naming.accepts("http_requests_total"));
        assert!(naming.accepts("a_total_b"));
        assert!(!naming.accepts("http_requests"));
    }

    #[test]
    fn reports_bad_patterns_and_missing_as() {
        let cases: &[(&str, &str, &str)] = &[
            ("^(.*", "", "rules[0].name.matches: invalid regex \"^(.*\""),
            (
                "^(a)(b)$",
                "",
                "rules[0].name.as: required because name.matches",
            ),
        ];
        for (matches, replacement, expected) in cases {
            let message = match Naming::new(matches, replacement, "rules[0]") {
                Ok(_) => panic!("{matches:?} should be rejected"),
                Err(e) => e.to_string(),
            };
            assert!(message.starts_with(expected), "{message}");
        }
    }

    #[test]
    fn warns_about_references_to_undefined_groups() -> Result<()> {
        let (_, warnings) = Naming::new("^(.*)_total$", "$1_per_second", "rules[3]")?;
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("rules[3].name.as:"), "{warnings:?}");
        assert!(warnings[0].contains("${1}"), "{warnings:?}");
        for ok in ["${1}_per_second", "$1", "$$2", "$0", "x${1}y"] {
            let (_, warnings) = Naming::new("^(.*)_total$", ok, "rules[0]")?;
            assert!(warnings.is_empty(), "{ok}: {warnings:?}");
        }
        let (_, warnings) = Naming::new("^(.*)$", "${2}", "rules[0]")?;
        assert_eq!(warnings.len(), 1);
        Ok(())
    }

    #[test]
    fn counters_are_served_per_second() {
        assert_eq!(
            rate_name("http_requests_total").as_deref(),
            Some("http_requests_per_second")
        );
        assert_eq!(rate_name("_total"), None);
        assert_eq!(rate_name("http_requests"), None);
        let default = naming(COUNTER_MATCHES, COUNTER_AS);
        for series in [
            "http_requests_total",
            "a_total_total",
            "process_cpu_seconds_total",
        ] {
            assert_eq!(default.api_name(series), rate_name(series), "{series}");
        }
    }
}
