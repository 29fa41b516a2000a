use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use proptest::prelude::*;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn parse(input: &str) -> Selector {
    Selector::parse(input).unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
}

#[test]
fn parses_every_operator_of_the_string_syntax() {
    let selector =
        parse("app=web, tier==front,env!=prod, zone in (a, b),team notin (x),canary,!legacy");
    let got: Vec<(String, Operator, Vec<String>)> = selector
        .requirements()
        .iter()
        .map(|r| (r.key().to_owned(), r.operator(), r.values().to_vec()))
        .collect();
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![
            ("app".into(), Operator::Equals, s(&["web"])),
            ("canary".into(), Operator::Exists, s(&[])),
            ("env".into(), Operator::NotEquals, s(&["prod"])),
            ("legacy".into(), Operator::DoesNotExist, s(&[])),
            ("team".into(), Operator::NotIn, s(&["x"])),
            ("tier".into(), Operator::Equals, s(&["front"])),
            ("zone".into(), Operator::In, s(&["a", "b"])),
        ],
        "requirements are sorted by key like Kubernetes sorts them"
    );
}

#[test]
fn empty_values_follow_kubernetes() {
    assert_eq!(parse("a=").requirements()[0].values(), [""]);
    assert_eq!(parse("a in ()").requirements()[0].values(), [""]);
    assert_eq!(parse("a in (x,)").requirements()[0].values(), ["", "x"]);
    assert!(parse("").is_empty());
    assert!(parse("   ").is_empty());
}

#[test]
fn keywords_are_operators_only_where_an_operator_stands() {
    assert_eq!(parse("a=in").requirements()[0].values(), ["in"]);
    assert_eq!(
        parse("a in (in,notin)").requirements()[0].values(),
        ["in", "notin"]
    );
    assert_eq!(parse("in=a").requirements()[0].key(), "in");
    assert_eq!(parse("!notin").to_string(), "!notin");
    assert_eq!(parse("in in (x)").to_string(), "in in (x)");
}

#[test]
fn matches_with_kubernetes_semantics() {
    let web = labels(&[("app", "web"), ("tier", "front")]);
    let bare = labels(&[]);
    let cases: [(&str, bool, bool); 10] = [
        ("", true, true),
        ("app=web", true, false),
        ("app!=web", false, true),
        ("app in (api,web)", true, false),
        ("app notin (api,web)", false, true),
        ("app", true, false),
        ("!app", false, true),
        ("app=web,tier=back", false, false),
        ("app=web,tier=front", true, false),
        ("tier notin (back)", true, true),
    ];
    for (selector, on_web, on_bare) in cases {
        let selector_value = parse(selector);
        assert_eq!(selector_value.matches(&web), on_web, "{selector:?} on web");
        assert_eq!(
            selector_value.matches(&bare),
            on_bare,
            "{selector:?} on no labels"
        );
    }
    let slice: &[(&str, &str)] = &[("app", "web")];
    assert!(parse("app=web").matches(slice));
}

#[test]
fn errors_name_the_token_and_its_position() {
    let cases = [
        ("app=web,", 8, "expected an identifier after ','"),
        ("app in web", 7, "found \"web\", expected '('"),
        ("app in (a b)", 10, "found \"b\", expected ',' or ')'"),
        ("app in (a", 9, "found the end of the selector"),
        ("app >= 3", 4, "numeric comparisons"),
        ("app > 3", 4, "numeric comparisons"),
        ("app=a=b", 5, "expected ',' or the end of the selector"),
        ("=web", 0, "expected '!', an identifier"),
        ("!", 1, "expected a label key"),
        ("app =! web", 5, "found \"!\", expected a value"),
        ("Bad Key=x", 4, "expected =, ==, !=, in or notin"),
        ("-app=x", 0, "invalid label key"),
        ("app=-x", 4, "invalid label value"),
        ("app in (ok,-x)", 11, "invalid label value"),
        ("a\u{a0}=b", 0, "invalid label key"),
        ("Example.com/app=x", 0, "prefix must be a DNS subdomain"),
        ("a/b/c=x", 0, "one '/' at most"),
    ];
    for (input, expected_position, expected_reason) in cases {
        match Selector::parse(input) {
            Err(Error::Selector {
                position, reason, ..
            }) => {
                assert_eq!(
                    position, expected_position,
                    "position for {input:?} ({reason})"
                );
                assert!(
                    reason.contains(expected_reason),
                    "reason for {input:?}: {reason}"
                );
            }
            other => panic!("{input:?} should be rejected, got {other:?}"),
        }
    }
}

#[test]
fn validates_keys_and_values_by_kubernetes_rules() {
    for key in ["app", "app.kubernetes.io/name", "a", "A_b-c.d", "x.y/z"] {
        assert_eq!(validate_key(key), Ok(()), "{key:?}");
    }
    let long_name = "a".repeat(64);
    for key in [
        "",
        "/app",
        "app/",
        "-a",
        "a-",
        "a b",
        "UPPER.example/a",
        long_name.as_str(),
        "a..b/c",
    ] {
        assert!(
            matches!(validate_key(key), Err(Error::LabelKey { .. })),
            "{key:?} should be rejected"
        );
    }
    for value in ["", "web", "v1.2.3", "a_b-c"] {
        assert_eq!(validate_value(value), Ok(()), "{value:?}");
    }
    for value in ["-web", "web-", "a\"b", "a b", long_name.as_str()] {
        assert!(
            matches!(validate_value(value), Err(Error::LabelValue { .. })),
            "{value:?} should be rejected"
        );
    }
}

#[test]
fn converts_to_and_from_the_label_selector_object() -> Result<()> {
    let object = LabelSelector {
        match_labels: Some(labels(&[("app", "web")])),
        match_expressions: Some(vec![
            LabelSelectorRequirement {
                key: "tier".into(),
                operator: "NotIn".into(),
                values: Some(vec!["cache".into()]),
            },
            LabelSelectorRequirement {
                key: "canary".into(),
                operator: "DoesNotExist".into(),
                values: None,
            },
        ]),
    };
    let selector = Selector::from_label_selector(&object)?;
    assert_eq!(selector.to_string(), "app=web,!canary,tier notin (cache)");
    assert_eq!(
        Selector::from_label_selector(&selector.to_label_selector())?,
        selector
    );
    assert_eq!(
        Selector::from_label_selector(&LabelSelector::default())?,
        Selector::everything()
    );
    Ok(())
}

#[test]
fn rejects_invalid_label_selector_objects_with_the_field() {
    let expression = |operator: &str, values: Option<Vec<String>>| LabelSelector {
        match_labels: None,
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "app".into(),
            operator: operator.into(),
            values,
        }]),
    };
    let field_of = |object: &LabelSelector| match Selector::from_label_selector(object) {
        Err(Error::SelectorObject { field, .. }) => field,
        other => panic!("expected a SelectorObject error, got {other:?}"),
    };
    assert_eq!(
        field_of(&expression("Equals", None)),
        "matchExpressions[0].operator"
    );
    assert_eq!(
        field_of(&expression("In", Some(vec![]))),
        "matchExpressions[0].values"
    );
    assert_eq!(
        field_of(&expression("Exists", Some(vec!["x".into()]))),
        "matchExpressions[0].values"
    );
    let bad_value = LabelSelector {
        match_labels: Some(labels(&[("app", "no spaces")])),
        match_expressions: None,
    };
    assert!(matches!(
        Selector::from_label_selector(&bad_value),
        Err(Error::LabelValue { .. })
    ));
}

proptest! {
    #[test]
    fn parsing_never_panics(input in "\\PC*") {
        let _ = Selector::parse(&input);
    }

    #[test]
    fn parsing_selector_like_text_never_panics(input in "[a-z!=<>(), ]{0,40}") {
        let _ = Selector::parse(&input);
    }

    #[test]
    fn display_reads_back_to_an_equal_selector(
        clauses in proptest::collection::vec(
            ("in|notin|[a-z][a-z0-9]{0,5}", 0..6usize, proptest::collection::vec("in|notin|[a-z0-9]{1,4}", 1..4)),
            0..5,
        )
    ) {
        let requirements: Vec<Requirement> = clauses
            .into_iter()
            .filter_map(|(key, op, values)| {
                let operator = [Operator::Equals, Operator::NotEquals, Operator::In, Operator::NotIn, Operator::Exists, Operator::DoesNotExist][op];
                let values = match operator {
                    Operator::Equals | Operator::NotEquals => values[..1].to_vec(),
                    Operator::Exists | Operator::DoesNotExist => vec![],
                    _ => values,
                };
                Requirement::new(key, operator, values).ok()
            })
            .collect();
        let selector = Selector::from_requirements(requirements);
        let text = selector.to_string();
        let back = Selector::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, selector);
    }
}
