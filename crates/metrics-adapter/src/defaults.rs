//! The rules Sextant serves when no `--config` is given: counters `X_total` as `X_per_second`
//! rates, and gauges as themselves, for every series that carries a `namespace` label. A
//! counter without the suffix is recognised by the store's metadata (`# TYPE x counter` on a
//! scraped target) and served as `x_per_second` too, not as a gauge; a store without metadata
//! (VictoriaMetrics, backfilled data) leaves such a series to the gauge rule.
//!
//! Association is by the well-known labels (`namespace`, `pod`, `service`, `deployment`,
//! `statefulset`, `node`, …), so a series with `namespace` and `pod` is served for pods, one
//! with `namespace` and `service` for services, and every such series for its namespace. Only
//! `namespace` is required; `job` and `instance` are never required and never name objects.

use std::time::Duration;

use metrics_model::promql::format_duration;

use crate::config::{Config, ConfigSpec, FilterSpec, NameSpec, RuleSpec, StoreType};
use crate::naming::{COUNTER_AS, COUNTER_MATCHES};
use crate::{Error, Result};

/// The rate window of the default counter rule when none is configured.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(120);

/// Name suffixes the default gauge rule leaves alone: counters, and the parts of histograms and
/// summaries, whose raw values mean nothing to an autoscaler.
const NOT_GAUGES: &str = "_(total|bucket|count|sum|created|info)$";

/// The default rules as written in a configuration file, with `window` as the rate window.
pub fn default_spec(window: Duration) -> Result<ConfigSpec> {
    if window.is_zero() {
        return Err(Error::Invalid {
            at: "default rules: rate window".to_owned(),
            reason: "must be longer than zero".to_owned(),
        });
    }
    let window = format_duration(window);
    let counters = RuleSpec {
        series_query: r#"{__name__=~".+_total",namespace!=""}"#.to_owned(),
        name: NameSpec {
            matches: COUNTER_MATCHES.to_owned(),
            replacement: COUNTER_AS.to_owned(),
        },
        metrics_query: format!(
            "sum(rate(<<.Series>>{{<<.LabelMatchers>>}}[{window}])) by (<<.GroupBy>>)"
        ),
        ..RuleSpec::default()
    };
    let gauges = RuleSpec {
        series_query: format!(r#"{{__name__!~".+{NOT_GAUGES}",namespace!=""}}"#),
        series_filters: Some(vec![FilterSpec {
            is_not: Some(NOT_GAUGES.to_owned()),
            ..FilterSpec::default()
        }]),
        metrics_query: "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)".to_owned(),
        store_type: StoreType::NotCounter,
        ..RuleSpec::default()
    };
    let counters_by_metadata = RuleSpec {
        series_query: format!(r#"{{__name__!~".+{NOT_GAUGES}",namespace!=""}}"#),
        series_filters: Some(vec![FilterSpec {
            is_not: Some(NOT_GAUGES.to_owned()),
            ..FilterSpec::default()
        }]),
        name: NameSpec {
            matches: "^(.+)$".to_owned(),
            replacement: COUNTER_AS.to_owned(),
        },
        metrics_query: format!(
            "sum(rate(<<.Series>>{{<<.LabelMatchers>>}}[{window}])) by (<<.GroupBy>>)"
        ),
        store_type: StoreType::Counter,
        ..RuleSpec::default()
    };
    Ok(ConfigSpec {
        rules: Some(vec![counters, gauges, counters_by_metadata]),
        external_rules: None,
    })
}

/// The compiled default rules with `window` as the rate window (see [`DEFAULT_WINDOW`]).
pub fn default_config(window: Duration) -> Result<Config> {
    Config::from_spec(&default_spec(window)?, Vec::new())
}

#[cfg(test)]
mod tests;
