use promql_parser::parser;
use proptest::prelude::*;

use super::*;

const NS: &str = "shop";

#[test]
fn adds_the_namespace_to_every_selector() -> Result<()> {
    let cases = [
        // plain selectors and the `__name__` forms
        (
            "http_requests_total",
            r#"http_requests_total{namespace="shop"}"#,
        ),
        (
            r#"http_requests_total{code="500",pod=~"web-.*"}"#,
            r#"http_requests_total{code="500",namespace="shop",pod=~"web-.*"}"#,
        ),
        (r#"{__name__="up"}"#, r#"{__name__="up",namespace="shop"}"#),
        (
            r#"{__name__=~"http_.+", job="api"}"#,
            r#"{__name__=~"http_.+",job="api",namespace="shop"}"#,
        ),
        (r#"{"up"}"#, r#"{__name__="up",namespace="shop"}"#),
        // ranges, subqueries, functions
        ("rate(foo[5m])", r#"rate(foo{namespace="shop"}[5m])"#),
        (
            "max_over_time(rate(foo[1m])[10m:30s])",
            r#"max_over_time(rate(foo{namespace="shop"}[1m])[10m:30s])"#,
        ),
        (
            "max_over_time(sum(foo)[1h:])",
            r#"max_over_time(sum(foo{namespace="shop"})[1h:])"#,
        ),
        (
            r#"histogram_quantile(0.9, sum by (le) (rate(latency_bucket[5m])))"#,
            r#"histogram_quantile(0.9, sum by (le) (rate(latency_bucket{namespace="shop"}[5m])))"#,
        ),
        (
            r#"label_replace(foo, "dst", "$1", "src", "(.*)")"#,
            r#"label_replace(foo{namespace="shop"}, "dst", "$1", "src", "(.*)")"#,
        ),
        ("absent(foo)", r#"absent(foo{namespace="shop"})"#),
        (
            "vector(1) + scalar(foo)",
            r#"vector(1) + scalar(foo{namespace="shop"})"#,
        ),
        // aggregations, with selectors in the parameter too
        (
            "sum by (pod) (rate(foo[2m]))",
            r#"sum by (pod) (rate(foo{namespace="shop"}[2m]))"#,
        ),
        (
            "sum(rate(foo[2m])) without (instance)",
            r#"sum without (instance) (rate(foo{namespace="shop"}[2m]))"#,
        ),
        (
            "topk(scalar(limit), foo)",
            r#"topk(scalar(limit{namespace="shop"}), foo{namespace="shop"})"#,
        ),
        (
            r#"count_values("version", build_info)"#,
            r#"count_values("version", build_info{namespace="shop"})"#,
        ),
        // binary operators, vector matching, set operators, parens, unary minus
        (
            "sum by (pod) (rate(a[2m])) / on (pod) group_left sum by (pod) (b)",
            r#"sum by (pod) (rate(a{namespace="shop"}[2m])) / on (pod) group_left () sum by (pod) (b{namespace="shop"})"#,
        ),
        (
            "a / on (pod) group_left b",
            r#"a{namespace="shop"} / on (pod) group_left () b{namespace="shop"}"#,
        ),
        (
            "a / ignoring (code) b",
            r#"a{namespace="shop"} / ignoring (code) b{namespace="shop"}"#,
        ),
        ("a > bool 3", r#"a{namespace="shop"} > bool 3"#),
        ("a or b", r#"a{namespace="shop"} or b{namespace="shop"}"#),
        (
            "a unless on () b",
            r#"a{namespace="shop"} unless on () b{namespace="shop"}"#,
        ),
        (
            "(a + b) * 2",
            r#"(a{namespace="shop"} + b{namespace="shop"}) * 2"#,
        ),
        ("-a", r#"-a{namespace="shop"}"#),
        // modifiers
        ("foo offset 5m", r#"foo{namespace="shop"} offset 5m"#),
        ("foo offset -5m", r#"foo{namespace="shop"} offset -5m"#),
        ("foo @ start()", r#"foo{namespace="shop"} @ start()"#),
        (
            "rate(foo[5m] @ 1700000000 offset 1h)",
            r#"rate(foo{namespace="shop"}[5m] @ 1700000000.000 offset 1h)"#,
        ),
        (
            "sum(foo)[5m:1m] @ end() offset 1m",
            r#"sum(foo{namespace="shop"})[5m:1m] @ end() offset 1m"#,
        ),
        // `or` inside braces: every alternative is confined
        (
            r#"foo{pod="a" or pod="b"}"#,
            r#"foo{pod="a", namespace="shop" or pod="b", namespace="shop"}"#,
        ),
        // no selectors: printed back unchanged
        ("1", "1"),
        (r#""text""#, r#""text""#),
        ("2 * 3 + 1", "2 * 3 + 1"),
        ("time()", "time()"),
    ];
    for (query, expected) in cases {
        assert_eq!(
            confine_to_namespace(query, NS)?,
            expected,
            "confining {query}"
        );
        assert!(is_confined_to(expected, NS)?, "{expected} is confined");
    }
    Ok(())
}

#[test]
fn drops_namespace_matchers_the_namespace_satisfies() -> Result<()> {
    let cases = [
        (r#"foo{namespace="shop"}"#, r#"foo{namespace="shop"}"#),
        (
            r#"foo{namespace=~"sh.*",pod="a"}"#,
            r#"foo{namespace="shop",pod="a"}"#,
        ),
        (r#"foo{namespace=~"shop|cart"}"#, r#"foo{namespace="shop"}"#),
        (r#"foo{namespace!="other"}"#, r#"foo{namespace="shop"}"#),
        (r#"foo{namespace!~"kube-.*"}"#, r#"foo{namespace="shop"}"#),
        (r#"{namespace=~".+"}"#, r#"{namespace="shop"}"#),
        (r#"{"namespace"="shop"}"#, r#"{namespace="shop"}"#),
        (
            r#"foo{namespace="shop", namespace=~"s.*", namespace!=""}"#,
            r#"foo{namespace="shop"}"#,
        ),
        (
            r#"foo{namespace="shop" or pod="b"}"#,
            r#"foo{namespace="shop" or pod="b", namespace="shop"}"#,
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            confine_to_namespace(query, NS)?,
            expected,
            "confining {query}"
        );
    }
    Ok(())
}

#[test]
fn rejects_namespace_matchers_that_exclude_the_namespace() {
    let cases = [
        (r#"foo{namespace="other"}"#, r#"namespace="other""#),
        (r#"foo{namespace=~"kube-.*"}"#, r#"namespace=~"kube-.*""#),
        (r#"foo{namespace!="shop"}"#, r#"namespace!="shop""#),
        (r#"foo{namespace!~"sh.*"}"#, r#"namespace!~"sh.*""#),
        (r#"foo{namespace=""}"#, r#"namespace="""#),
        (
            r#"foo{namespace="shop",namespace="other"}"#,
            r#"namespace="other""#,
        ),
        (r#"{"namespace"="other"}"#, r#"namespace="other""#),
        (
            r#"a + rate(b{namespace="other"}[5m])"#,
            r#"namespace="other""#,
        ),
        (
            r#"foo{pod="a", namespace="other" or pod="b"}"#,
            r#"namespace="other""#,
        ),
    ];
    for (query, matcher) in cases {
        assert_eq!(
            confine_to_namespace(query, NS),
            Err(Error::Query {
                query: query.to_owned(),
                reason: format!(
                    "matcher {matcher} excludes namespace \"shop\": the query may only read \
                     series of its own namespace"
                ),
            }),
            "confining {query}"
        );
    }
}

#[test]
fn rejects_invalid_promql_with_the_parser_message() {
    for query in [
        "",
        "sum(",
        "foo{",
        "rate(foo)",
        "foo[5m] + 1",
        "unknown_fn(foo)",
        "{}",
    ] {
        let message = match parser::parse(query) {
            Err(message) => message,
            Ok(expr) => panic!("{query:?} unexpectedly parses as {expr}"),
        };
        let error = confine_to_namespace(query, NS);
        assert_eq!(
            error,
            Err(Error::Query {
                query: query.to_owned(),
                reason: format!("does not parse: {message}"),
            }),
            "confining {query:?}"
        );
        assert!(is_confined_to(query, NS).is_err(), "{query:?}");
    }
}

#[test]
fn rejects_what_cannot_be_confined() {
    let cases = [
        (
            "info(foo)",
            "function info() reads series that no selector of the query names, so it cannot \
             be confined to a namespace",
        ),
        (
            "foo @ -100",
            "`@` times before 1970-01-01 are not supported",
        ),
    ];
    for (query, reason) in cases {
        assert_eq!(
            confine_to_namespace(query, NS),
            Err(Error::Query {
                query: query.to_owned(),
                reason: reason.to_owned(),
            }),
            "confining {query}"
        );
    }
}

#[test]
fn rejects_namespace_names_that_are_not_dns_1123_labels() -> Result<()> {
    let long = "a".repeat(64);
    let cases = [
        ("", "must not be empty"),
        (
            "Shop",
            "must consist of lower-case alphanumeric characters or '-'",
        ),
        (
            "sh_op",
            "must consist of lower-case alphanumeric characters or '-'",
        ),
        (
            "shop.io",
            "must consist of lower-case alphanumeric characters or '-'",
        ),
        (
            "shop\"}",
            "must consist of lower-case alphanumeric characters or '-'",
        ),
        ("-shop", "must start and end with an alphanumeric character"),
        ("shop-", "must start and end with an alphanumeric character"),
        (long.as_str(), "must be at most 63 characters"),
    ];
    for (name, reason) in cases {
        let expected = Error::Namespace {
            name: name.to_owned(),
            reason,
        };
        assert_eq!(
            confine_to_namespace("foo", name).err(),
            Some(expected.clone()),
            "{name:?}"
        );
        assert_eq!(
            is_confined_to("foo", name).err(),
            Some(expected),
            "{name:?}"
        );
    }
    for name in ["a", "0", "kube-system", "a-b-c", &"a".repeat(63)] {
        validate_namespace(name)?;
    }
    Ok(())
}

#[test]
fn tells_confined_queries_from_others() -> Result<()> {
    let cases = [
        (r#"foo{namespace="shop"}"#, true),
        (
            r#"rate(foo{namespace="shop"}[5m]) / bar{namespace="shop"}"#,
            true,
        ),
        ("1 + 2", true),
        ("foo", false),
        (r#"foo{namespace="shop"} + bar"#, false),
        (r#"foo{namespace=~"shop"}"#, false),
        (r#"foo{namespace="other"}"#, false),
        (r#"foo{namespace="shop",namespace="shop"}"#, false),
        (r#"foo{namespace="shop" or pod="a"}"#, false),
        (r#"info(foo{namespace="shop"})"#, false),
    ];
    for (query, confined) in cases {
        assert_eq!(is_confined_to(query, NS)?, confined, "{query}");
    }
    Ok(())
}

#[test]
fn error_messages_name_the_query_and_the_reason() {
    let error = confine_to_namespace(r#"foo{namespace="kube-system"}"#, NS)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        error.as_deref(),
        Some(
            r#"PromQL query "foo{namespace=\"kube-system\"}": matcher namespace="kube-system" excludes namespace "shop": the query may only read series of its own namespace"#
        )
    );
}

/// A query built from nested shapes, with how many selectors it has.
fn query() -> impl Strategy<Value = (String, usize)> {
    let leaf = prop_oneof![
        Just(("foo".to_owned(), 1)),
        Just((r#"http_requests_total{code=~"5..",pod!=""}"#.to_owned(), 1)),
        Just((r#"{__name__="up",job="api"}"#.to_owned(), 1)),
        Just((r#"bar{namespace=~".+"}"#.to_owned(), 1)),
        Just((r#"bar{namespace!="Not-A-Namespace"}"#.to_owned(), 1)),
        Just(("baz offset 5m".to_owned(), 1)),
        Just(("baz @ start()".to_owned(), 1)),
        Just(("vector(42)".to_owned(), 0)),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            inner
                .clone()
                .prop_map(|(q, n)| (format!("sum by (pod) ({q})"), n)),
            inner.clone().prop_map(|(q, n)| (format!("({q})"), n)),
            inner
                .clone()
                .prop_map(|(q, n)| (format!("max_over_time(({q})[10m:1m])"), n)),
            inner.clone().prop_map(|(q, n)| (format!("-({q})"), n)),
            (inner.clone(), inner.clone())
                .prop_map(|((a, n), (b, m))| (format!("({a}) / on (pod) ({b})"), n + m)),
            (inner.clone(), inner).prop_map(|((a, n), (b, m))| (format!("({a}) or ({b})"), n + m)),
            Just((r#"rate(requests{verb="GET"}[2m] offset 1m)"#.to_owned(), 1)),
        ]
    })
}

proptest! {
    #[test]
    fn every_selector_carries_exactly_the_namespace(
        namespace in "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
        (query, selectors) in query(),
    ) {
        let confined = confine_to_namespace(&query, &namespace);
        prop_assert!(confined.is_ok(), "{query}: {confined:?}");
        let confined = confined.unwrap_or_default();
        // Counted on the text, independently of the walker under test.
        let exact = format!("namespace=\"{namespace}\"");
        prop_assert_eq!(confined.matches(&exact).count(), selectors, "{}", &confined);
        prop_assert_eq!(confined.matches("namespace=").count(), selectors, "{}", &confined);
        prop_assert_eq!(confined.matches("namespace!").count(), 0, "{}", &confined);
        prop_assert!(parser::parse(&confined).is_ok());
        prop_assert_eq!(is_confined_to(&confined, &namespace), Ok(true));
        prop_assert_eq!(is_confined_to(&query, &namespace), Ok(selectors == 0));
        prop_assert_eq!(confine_to_namespace(&confined, &namespace), Ok(confined.clone()));
    }
}
