#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

use super::*;

/// A realistic prometheus-adapter configuration (upstream's sample rules and more).
pub(crate) const SAMPLE: &str = include_str!("../../testdata/prometheus-adapter.yaml");

fn load_error(yaml: &str) -> String {
    match Config::from_yaml(yaml) {
        Ok(config) => panic!("accepted:\n{yaml}\nwarnings: {:?}", config.warnings()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn loads_the_sample_configuration() -> Result<()> {
    let config = Config::from_yaml(SAMPLE)?;
    assert_eq!(config.rules().len(), 8);
    assert_eq!(config.external_rules().len(), 2);
    assert_eq!(config.rules()[6].location(), "rules[6]");
    assert_eq!(config.external_rules()[1].location(), "externalRules[1]");
    assert_eq!(config.external_rules()[1].kind(), RuleKind::External);
    assert_eq!(
        config.rules()[0].series_query(),
        r#"{__name__=~"^container_.*",container!="POD",namespace!="",pod!=""}"#
    );
    assert!(!config.external_rules()[0].is_namespaced());
    assert!(config.external_rules()[1].is_namespaced());
    assert_eq!(config.rules()[4].naming().replacement(), "${1}_per_second");
    assert_eq!(config.rules()[0].naming().replacement(), "$1");
    assert_eq!(config.rules()[3].naming().pattern(), ".*");
    assert_eq!(
        config.warnings(),
        [
            "resourceRules: ignored: Sextant serves no resource metrics (metrics.k8s.io); keep \
          metrics-server or prometheus-adapter for `kubectl top`"
        ]
    );
    Ok(())
}

#[test]
fn loads_a_file_and_names_a_missing_one() -> Result<()> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/prometheus-adapter.yaml"
    );
    assert_eq!(Config::load(path)?.rules().len(), 8);
    let message = Config::load("/nonexistent/adapter.yaml")
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        message.starts_with("cannot read adapter configuration /nonexistent/adapter.yaml:"),
        "{message}"
    );
    Ok(())
}

#[test]
fn reports_errors_with_their_place_in_the_file() {
    let rule = |body: &str| {
        format!(
            "rules:\n- seriesQuery: 'up'\n  metricsQuery: '<<.Series>>{{<<.LabelMatchers>>}}'\n{body}"
        )
    };
    let cases: Vec<(String, &str)> = vec![
        ("rules: [".to_owned(), "invalid adapter configuration: "),
        (
            "- a\n- b\n".to_owned(),
            "invalid adapter configuration: invalid type: sequence",
        ),
        (
            rule("  seriesQeury: 'x'\n"),
            "invalid adapter configuration: rules[0]: unknown field `seriesQeury`",
        ),
        (
            rule("  name: {matchs: x}\n"),
            "invalid adapter configuration: rules[0].name: unknown field `matchs`",
        ),
        (
            format!(
                "rules:\n{}{}",
                "- {seriesQuery: up, metricsQuery: '<<.Series>>{<<.LabelMatchers>>}'}\n".repeat(2),
                "- {seriesQuery: up, metricsQuery: up, name: {matches: '^(.*'}}\n"
            ),
            "rules[2].name.matches: invalid regex \"^(.*\": regex parse error",
        ),
        (
            rule("  seriesFilters: [{is: a}, {isNot: '[z-a]'}]\n"),
            "rules[0].seriesFilters[1].isNot: invalid regex \"[z-a]\"",
        ),
        (
            rule("  seriesFilters: [{is: a, isNot: b}]\n"),
            "rules[0].seriesFilters[0]: give either `is` or `isNot`, not both",
        ),
        (
            rule("  seriesFilters: [{}]\n"),
            "rules[0].seriesFilters[0]: needs an `is` or an `isNot` regex",
        ),
        (
            "rules:\n- {metricsQuery: up}\n".to_owned(),
            "rules[0].seriesQuery: must not be empty",
        ),
        (
            "rules:\n- {seriesQuery: up}\n".to_owned(),
            "rules[0].metricsQuery: must not be empty",
        ),
        (
            "externalRules:\n- {seriesQuery: up, metricsQuery: 'sum(<<range .GroupBySlice>>)'}\n"
                .to_owned(),
            "externalRules[0].metricsQuery: unsupported template action <<range .GroupBySlice>>: \
             control structures are not supported",
        ),
        (
            "rules:\n- {seriesQuery: up, metricsQuery: '<<.Series | printf \"%s\">>'}\n".to_owned(),
            "rules[0].metricsQuery: unsupported template action <<.Series | printf \"%s\">>: \
             pipelines are not supported",
        ),
        (
            rule("  resources: {overrides: {pod-name: {resource: pod}}}\n"),
            "rules[0].resources.overrides.pod-name: invalid Prometheus label name \"pod-name\"",
        ),
        (
            rule("  resources: {overrides: {pod: {resource: Pods}}}\n"),
            "rules[0].resources.overrides.pod: invalid resource \"Pods\"",
        ),
        (
            rule("  resources: {overrides: {pod: {group: apps}}}\n"),
            "invalid adapter configuration: rules[0].resources.overrides.pod: missing field `resource`",
        ),
        (
            rule("  resources: {template: 'kube_<<.Group>>'}\n"),
            "rules[0].resources.template: invalid resource \"kube_<<.Group>>\": the template must \
             contain <<.Resource>>",
        ),
        (
            "rules:\n- {seriesQuery: up, metricsQuery: 'sum(<<.Series>>)'}\n".to_owned(),
            "rules[0].metricsQuery: must use <<.LabelMatchers>>",
        ),
        (
            "externalRules:\n- {seriesQuery: up, metricsQuery: 'sum(<<.Series>>) by (queue)'}\n"
                .to_owned(),
            "externalRules[0].metricsQuery: must use <<.LabelMatchers>>",
        ),
        (
            rule("  name: {matches: '^(a)_(b)$'}\n"),
            "rules[0].name.as: required because name.matches \"^(a)_(b)$\" has 2 capture groups",
        ),
    ];
    for (yaml, expected) in cases {
        let message = load_error(&yaml);
        assert!(
            message.starts_with(expected),
            "{yaml}\n=> {message}\nexpected {expected}"
        );
    }
}

#[test]
fn warns_about_what_is_accepted_but_ignored_or_risky() -> Result<()> {
    let cases: &[(&str, &str)] = &[
        ("", "the configuration is empty"),
        ("rules: []\nextra: 1\n", "extra: unknown section, ignored"),
        (
            "rules:\n- {seriesQuery: up, metricsQuery: '<<.Series>>{<<.LabelMatchers>>}', \
             resources: {namespaced: false}}\n",
            "rules[0].resources.namespaced: ignored on custom rules",
        ),
        (
            "rules:\n- {seriesQuery: up, metricsQuery: '<<.Series>>{<<.LabelMatchers>>}', \
             labelValueReplacements: [{find: '#', replace: '_'}]}\n",
            "rules[0].labelValueReplacements: ignored",
        ),
        (
            "rules:\n- {seriesQuery: up, metricsQuery: '<<.Series>>{<<.LabelMatchers>>}', \
             name: {matches: '^(.*)_total$', as: '$1_per_second'}}\n",
            "rules[0].name.as: \"$1_per_second\" refers to group \"1_per_second\"",
        ),
    ];
    for (yaml, expected) in cases {
        let config = Config::from_yaml(yaml)?;
        assert!(
            config.warnings().iter().any(|w| w.starts_with(expected)),
            "{yaml}\n=> {:?}",
            config.warnings()
        );
    }
    let quiet = Config::from_yaml(
        "externalRules:\n- {seriesQuery: up, metricsQuery: 'sum(up)', resources: {namespaced: false}}\n",
    )?;
    assert!(quiet.warnings().is_empty(), "{:?}", quiet.warnings());
    Ok(())
}

#[test]
fn specs_round_trip_through_yaml() -> Result<()> {
    let spec: ConfigSpec = yaml_serde::from_str(SAMPLE)?;
    let again: ConfigSpec = yaml_serde::from_str(&yaml_serde::to_string(&spec)?)?;
    assert_eq!(spec, again);
    Ok(())
}
