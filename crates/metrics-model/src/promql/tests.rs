use std::time::Duration;

use promql_parser::label::MatchOp as ParsedOp;
use promql_parser::parser::{self, Expr as Parsed};
use proptest::prelude::*;

use super::*;
use crate::Error;

fn label(name: &str) -> LabelName {
    LabelName::new(name).unwrap_or_else(|e| panic!("{e}"))
}

fn metric(name: &str) -> MetricName {
    MetricName::new(name).unwrap_or_else(|e| panic!("{e}"))
}

fn selector(input: &str) -> Selector {
    Selector::parse(input).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn builds_the_per_pod_rate_query() {
    let series = VectorSelector::metric(metric("http_requests_total"))
        .with(LabelMatcher::equal(label("namespace"), "shop"))
        .with_all(
            selector_matchers(&selector("app in (web,api),tier!=cache,canary,!legacy"))
                .unwrap_or_default(),
        );
    let query = Expr::range(RangeFunction::Rate, series, Duration::from_secs(120))
        .aggregate(Aggregation::Sum, [label("namespace"), label("pod")]);
    assert_eq!(
        query.to_string(),
        r#"sum by (namespace, pod) (rate(http_requests_total{namespace="shop",app=~"api|web",canary!="",legacy="",tier!="cache"}[2m]))"#
    );
}

#[test]
fn translates_each_selector_operator() -> crate::Result<()> {
    let cases = [
        ("a=x", r#"{a="x"}"#),
        ("a!=x", r#"{a!="x"}"#),
        ("a in (x)", r#"{a="x"}"#),
        ("a in (x,y.z)", r#"{a=~"x|y\\.z"}"#),
        ("a notin (x,y)", r#"{a!~"x|y"}"#),
        ("a", r#"{a!=""}"#),
        ("!a", r#"{a=""}"#),
    ];
    for (input, expected) in cases {
        let query = VectorSelector::any_metric().with_all(selector_matchers(&selector(input))?);
        assert_eq!(query.to_string(), expected, "translation of {input:?}");
    }
    Ok(())
}

#[test]
fn rejects_kubernetes_keys_that_are_not_prometheus_label_names() {
    let result = selector_matchers(&selector("app.kubernetes.io/name=web"));
    assert!(
        matches!(&result, Err(Error::LabelName { name, position: 3, .. }) if name == "app.kubernetes.io/name"),
        "{result:?}"
    );
}

#[test]
fn names_are_validated_with_positions() {
    assert!(MetricName::new("http_requests_total").is_ok());
    assert!(MetricName::new("job:rate5m").is_ok());
    assert!(matches!(
        MetricName::new("9lives"),
        Err(Error::MetricName { position: 0, .. })
    ));
    assert!(matches!(
        MetricName::new("a-b"),
        Err(Error::MetricName { position: 1, .. })
    ));
    assert!(matches!(
        MetricName::new(""),
        Err(Error::MetricName { position: 0, .. })
    ));
    assert!(matches!(
        MetricName::new("up{x=\"1\"}"),
        Err(Error::MetricName { position: 2, .. })
    ));
    assert!(matches!(
        LabelName::new("a:b"),
        Err(Error::LabelName { position: 1, .. })
    ));
    assert!(LabelName::new("__name__").is_ok());
}

#[test]
fn metric_names_that_are_promql_keywords_are_selected_by_name_label() {
    assert_eq!(
        VectorSelector::metric(metric("NaN")).to_string(),
        r#"{__name__="NaN"}"#
    );
    let on = VectorSelector::metric(metric("on")).with(LabelMatcher::equal(label("a"), "b"));
    assert_eq!(on.to_string(), r#"{__name__="on",a="b"}"#);
    assert_eq!(
        VectorSelector::metric(metric("rate")).to_string(),
        "rate",
        "functions are not keywords"
    );
}

#[test]
fn escapes_strings_and_regexes() {
    assert_eq!(
        quote("a\u{FFFD}b"),
        r#""a\ufffdb""#,
        "Prometheus' lexer stops at a literal U+FFFD"
    );
    assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
    assert_eq!(quote("line\nbreak\u{1}"), r#""line\nbreak\u0001""#);
    assert_eq!(escape_regex("a.b*c|d(e)"), r"a\.b\*c\|d\(e\)");
}

#[test]
fn formats_durations_as_promql_literals() {
    let cases = [
        (120_000, "2m"),
        (90_000, "1m30s"),
        (3_600_000, "1h"),
        (5_400_000, "1h30m"),
        (1_500, "1500ms"),
        (0, "0s"),
        (86_400_000, "24h"),
    ];
    for (millis, expected) in cases {
        assert_eq!(format_duration(Duration::from_millis(millis)), expected);
    }
}

#[test]
fn empty_value_lists_match_nothing_and_exclude_nothing() -> std::result::Result<(), regex::Error> {
    let nothing = LabelMatcher::one_of::<&str>(label("a"), &[]);
    let anchored = regex::Regex::new(&format!("^(?:{})$", nothing.value()))?;
    for text in ["", "a", "anything"] {
        assert!(!anchored.is_match(text), "{text:?}");
    }
    assert_eq!(
        LabelMatcher::none_of::<&str>(label("a"), &[]).op(),
        MatchOp::NotRegex
    );
    Ok(())
}

/// A parsed selector's metric name and its (label, operator, value) matchers.
type ParsedSelector = (Option<String>, Vec<(String, String, String)>);

/// Parses `query` with an independent PromQL parser and returns the matchers of its one
/// vector selector, or fails the case when the query's shape is not the one built.
fn parsed_matchers(query: &str) -> std::result::Result<ParsedSelector, TestCaseError> {
    let parsed = parser::parse(query).map_err(|e| TestCaseError::fail(format!("{query}: {e}")))?;
    let Parsed::Aggregate(aggregate) = parsed else {
        return Err(TestCaseError::fail(format!("not an aggregation: {query}")));
    };
    let Parsed::Call(call) = *aggregate.expr else {
        return Err(TestCaseError::fail(format!(
            "not a call inside the aggregation: {query}"
        )));
    };
    prop_assert_eq!(call.func.name, "rate");
    prop_assert_eq!(call.args.args.len(), 1);
    let Parsed::MatrixSelector(matrix) = &*call.args.args[0] else {
        return Err(TestCaseError::fail(format!(
            "not a range selector: {query}"
        )));
    };
    prop_assert!(
        matrix.vs.matchers.or_matchers.is_empty(),
        "an `or` appeared in {}",
        query
    );
    let matchers = matrix
        .vs
        .matchers
        .matchers
        .iter()
        .filter(|m| m.name != "__name__")
        .map(|m| {
            let op = match m.op {
                ParsedOp::Equal => "=",
                ParsedOp::NotEqual => "!=",
                ParsedOp::Re(_) => "=~",
                ParsedOp::NotRe(_) => "!~",
            };
            (m.name.clone(), op.to_owned(), m.value.clone())
        })
        .collect();
    // A metric named like a keyword is selected by `{__name__="…"}`: that is its name too.
    let name = matrix.vs.name.clone().or_else(|| {
        matrix
            .vs
            .matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && matches!(m.op, ParsedOp::Equal))
            .map(|m| m.value.clone())
    });
    Ok((name, matchers))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// However hostile the values, an independent parser reads back exactly the query that was
    /// built: one aggregation of one rate over one selector with exactly these matchers.
    #[test]
    fn no_value_can_change_the_query_structure(
        namespace in "\\PC*",
        pod in any::<String>(),
        alternatives in proptest::collection::vec(any::<String>(), 2..5),
        excluded in "[\"\\\\}{|.*()\\[\\]$^ ,=~!a-z]{0,12}",
    ) {
        let series = VectorSelector::metric(metric("http_requests_total"))
            .with(LabelMatcher::equal(label("namespace"), namespace.clone()))
            .with(LabelMatcher::not_equal(label("pod"), pod.clone()))
            .with(LabelMatcher::one_of(label("app"), &alternatives))
            .with(LabelMatcher::none_of(label("tier"), &[excluded.clone(), "x".to_owned()]));
        let query = Expr::range(RangeFunction::Rate, series, Duration::from_secs(120))
            .aggregate(Aggregation::Sum, [label("pod")]);
        let (name, matchers) = parsed_matchers(&query.to_string())?;
        prop_assert_eq!(name.as_deref(), Some("http_requests_total"));
        let escaped: Vec<String> = alternatives.iter().map(|a| escape_regex(a)).collect();
        let expected = vec![
            ("namespace".to_owned(), "=".to_owned(), namespace),
            ("pod".to_owned(), "!=".to_owned(), pod),
            ("app".to_owned(), "=~".to_owned(), escaped.join("|")),
            ("tier".to_owned(), "!~".to_owned(), format!("{}|x", escape_regex(&excluded))),
        ];
        prop_assert_eq!(matchers, expected);
    }

    /// An escaped alternation matches each listed value and nothing else.
    #[test]
    fn escaped_alternations_match_only_the_listed_values(
        values in proptest::collection::vec("[\"\\\\}{|.*()\\[\\]$^+?a-c]{0,6}", 1..4),
        probe in "[\"\\\\}{|.*()\\[\\]$^+?a-c]{0,6}",
    ) {
        let matcher = LabelMatcher::one_of(label("a"), &values);
        let pattern = match matcher.op() {
            MatchOp::Equal => escape_regex(matcher.value()),
            _ => matcher.value().to_owned(),
        };
        let anchored = regex::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for value in &values {
            prop_assert!(anchored.is_match(value), "{} should match {:?}", pattern, value);
        }
        prop_assert_eq!(anchored.is_match(&probe), values.contains(&probe), "{} on {:?}", pattern, probe);
    }

    /// A metric or label name either is rejected or reads back as the very same identifier.
    #[test]
    fn names_are_rejected_or_parse_back_unchanged(name in "\\PC{0,12}") {
        if let Ok(valid) = MetricName::new(name.clone()) {
            let query = Expr::range(RangeFunction::Rate, VectorSelector::metric(valid), Duration::from_secs(60))
                .aggregate(Aggregation::Sum, []);
            let (parsed, _) = parsed_matchers(&query.to_string())?;
            prop_assert_eq!(parsed, Some(name.clone()));
        }
        if let Ok(valid) = LabelName::new(name.clone()) {
            let query = Expr::range(RangeFunction::Rate, VectorSelector::metric(metric("m")).with(LabelMatcher::equal(valid, "v")), Duration::from_secs(60))
                .aggregate(Aggregation::Sum, []);
            let (_, matchers) = parsed_matchers(&query.to_string())?;
            prop_assert_eq!(matchers, vec![(name, "=".to_owned(), "v".to_owned())]);
        }
    }

    /// Every Kubernetes selector that parses either translates into matchers an independent
    /// parser accepts, or is rejected because a key is not a Prometheus label name.
    #[test]
    fn parsed_selectors_translate_or_fail_cleanly(input in "[a-z_./!=(), -]{0,30}") {
        if let Ok(parsed) = Selector::parse(&input) {
            match selector_matchers(&parsed) {
                Ok(matchers) if !matchers.is_empty() => {
                    let query = Expr::range(RangeFunction::Rate, VectorSelector::metric(metric("m")).with_all(matchers.clone()), Duration::from_secs(60))
                        .aggregate(Aggregation::Sum, []);
                    let (_, parsed_matchers) = parsed_matchers(&query.to_string())?;
                    prop_assert_eq!(parsed_matchers.len(), matchers.len());
                }
                Ok(_) => prop_assert!(parsed.is_empty()),
                Err(error) => prop_assert!(matches!(error, Error::LabelName { .. }), "{error}"),
            }
        }
    }
}
