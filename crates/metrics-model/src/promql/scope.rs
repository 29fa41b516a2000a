//! Confining an operator-written PromQL query to one Kubernetes namespace.
//!
//! A ScalingPolicy's raw External `query` is written by whoever may create policies in a
//! namespace, and runs against a store that holds every namespace's series. Before it is sent,
//! [`confine_to_namespace`] parses it (with the `promql-parser` crate), gives every series
//! selector — wherever it stands: in a range, a subquery, a function argument, an aggregation,
//! either side of a binary operator, each `or` alternative inside braces — the matcher
//! `namespace="<namespace>"`, prints the result, and parses that again to check that every
//! selector of what will actually be sent carries exactly that matcher.
//!
//! Existing `namespace` matchers are dropped when the namespace satisfies them
//! (`namespace="shop"`, `namespace=~"sh.*"`, `namespace!="other"`), so the selection can only
//! narrow; one the namespace does not satisfy would select nothing, which is almost certainly
//! a mistake, so the query is rejected with an error naming the matcher.
//!
//! ```
//! use metrics_model::promql::confine_to_namespace;
//!
//! let query = r#"sum by (pod) (rate(http_requests_total{code=~"5.."}[2m]))"#;
//! assert_eq!(
//!     confine_to_namespace(query, "shop")?,
//!     r#"sum by (pod) (rate(http_requests_total{code=~"5..",namespace="shop"}[2m]))"#
//! );
//! # Ok::<(), metrics_model::Error>(())
//! ```

use std::time::SystemTime;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{self, AtModifier, Expr, VectorSelector};

use crate::{Error, Result};

/// The series label that names a Kubernetes namespace (kube-state-metrics, cAdvisor, the
/// Prometheus Kubernetes service discovery relabelling all use it).
pub const NAMESPACE_LABEL: &str = "namespace";

/// Functions that read series no selector of the query names: `info` joins `target_info`
/// series by `instance`/`job` whatever their namespace, so it cannot be confined.
const UNCONFINABLE_FUNCTIONS: &[&str] = &["info"];

/// The query with every series selector restricted to `namespace`, so that a policy's query
/// can never read another namespace's series.
///
/// The result is printed by `promql-parser` (matchers sorted, canonical spacing), parsed
/// again and checked before it is returned. A query without selectors (`1`, `"text"`) comes
/// back in printed form with nothing added. Errors: [`Error::Namespace`] when `namespace` is
/// not a DNS-1123 label, [`Error::Query`] when the query does not parse (with the parser's
/// message), when an existing `namespace` matcher excludes `namespace`, or when the query
/// uses a function that reads series outside its selectors (`info`).
pub fn confine_to_namespace(query: &str, namespace: &str) -> Result<String> {
    validate_namespace(namespace)?;
    let fail = |reason: String| Error::Query {
        query: query.to_owned(),
        reason,
    };
    let mut expr = parse(query)?;
    for_each_selector(&mut expr, &mut |selector| confine(selector, namespace)).map_err(fail)?;
    let printed = expr.to_string();
    verify(&printed, namespace).map_err(fail)?;
    Ok(printed)
}

/// Whether every series selector of `query` already selects exactly `namespace="<namespace>"`
/// (and nothing reads series outside its selectors), for checks and tests of confinement.
///
/// Errors only when `namespace` is not a DNS-1123 label or `query` does not parse.
pub fn is_confined_to(query: &str, namespace: &str) -> Result<bool> {
    validate_namespace(namespace)?;
    let mut expr = parse(query)?;
    Ok(for_each_selector(&mut expr, &mut |selector| check(selector, namespace)).is_ok())
}

/// Checks that `name` is a Kubernetes namespace name (a DNS-1123 label: at most 63 lower-case
/// alphanumerics or '-', starting and ending alphanumeric), as the API server requires.
pub fn validate_namespace(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > 63 {
        Some("must be at most 63 characters")
    } else if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        Some("must consist of lower-case alphanumeric characters or '-'")
    } else if name.starts_with('-') || name.ends_with('-') {
        Some("must start and end with an alphanumeric character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::Namespace {
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn parse(query: &str) -> Result<Expr> {
    parser::parse(query).map_err(|message| Error::Query {
        query: query.to_owned(),
        reason: format!("does not parse: {message}"),
    })
}

/// Calls `visit` on every vector selector of `expr` (those inside matrix selectors too), and
/// fails on what cannot be confined or printed faithfully.
fn for_each_selector(
    expr: &mut Expr,
    visit: &mut impl FnMut(&mut VectorSelector) -> Result<(), String>,
) -> Result<(), String> {
    match expr {
        Expr::Aggregate(aggregate) => {
            if let Some(param) = &mut aggregate.param {
                for_each_selector(param, visit)?;
            }
            for_each_selector(&mut aggregate.expr, visit)
        }
        Expr::Unary(unary) => for_each_selector(&mut unary.expr, visit),
        Expr::Binary(binary) => {
            for_each_selector(&mut binary.lhs, visit)?;
            for_each_selector(&mut binary.rhs, visit)
        }
        Expr::Paren(paren) => for_each_selector(&mut paren.expr, visit),
        Expr::Subquery(subquery) => {
            check_at(subquery.at.as_ref())?;
            for_each_selector(&mut subquery.expr, visit)
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::VectorSelector(selector) => {
            check_at(selector.at.as_ref())?;
            visit(selector)
        }
        Expr::MatrixSelector(matrix) => {
            check_at(matrix.vs.at.as_ref())?;
            visit(&mut matrix.vs)
        }
        Expr::Call(call) => {
            if UNCONFINABLE_FUNCTIONS.contains(&call.func.name) {
                return Err(format!(
                    "function {}() reads series that no selector of the query names, so it \
                     cannot be confined to a namespace",
                    call.func.name
                ));
            }
            call.args
                .args
                .iter_mut()
                .try_for_each(|arg| for_each_selector(arg, visit))
        }
        Expr::Extension(_) => Err("extension expressions cannot be confined".to_owned()),
    }
}

/// `promql-parser` prints an `@` time before 1970 as `@ 0.000`, which would change the query.
fn check_at(at: Option<&AtModifier>) -> Result<(), String> {
    match at {
        Some(AtModifier::At(time)) if *time < SystemTime::UNIX_EPOCH => {
            Err("`@` times before 1970-01-01 are not supported".to_owned())
        }
        _ => Ok(()),
    }
}

/// The matcher groups a series must satisfy one of: the plain list, or each `or` alternative.
fn groups(selector: &mut VectorSelector) -> Result<Vec<&mut Vec<Matcher>>, String> {
    let matchers = &mut selector.matchers;
    if matchers.or_matchers.is_empty() {
        return Ok(vec![&mut matchers.matchers]);
    }
    // The parser moves every matcher into `or_matchers` once it meets `or`, and `Display`
    // prints only `or_matchers` then; a plain matcher left beside them would be lost.
    if !matchers.matchers.is_empty() {
        return Err("selector mixes `or` alternatives with plain matchers".to_owned());
    }
    Ok(matchers.or_matchers.iter_mut().collect())
}

fn confine(selector: &mut VectorSelector, namespace: &str) -> Result<(), String> {
    for group in groups(selector)? {
        if let Some(excluding) = group
            .iter()
            .find(|m| m.name == NAMESPACE_LABEL && !m.is_match(namespace))
        {
            return Err(format!(
                "matcher {excluding} excludes namespace {namespace:?}: the query may only \
                 read series of its own namespace"
            ));
        }
        group.retain(|m| m.name != NAMESPACE_LABEL);
        group.push(Matcher::new(MatchOp::Equal, NAMESPACE_LABEL, namespace));
    }
    Ok(())
}

fn check(selector: &mut VectorSelector, namespace: &str) -> Result<(), String> {
    let printed = selector.to_string();
    for group in groups(selector)? {
        let mut on_namespace = group.iter().filter(|m| m.name == NAMESPACE_LABEL);
        match (on_namespace.next(), on_namespace.next()) {
            (Some(only), None) if only.op == MatchOp::Equal && only.value == namespace => {}
            _ => {
                return Err(format!(
                    "selector {printed} does not select exactly namespace {namespace:?}"
                ));
            }
        }
    }
    Ok(())
}

/// Parses what will be sent and checks it, so that a printer bug cannot widen the selection.
fn verify(printed: &str, namespace: &str) -> Result<(), String> {
    let mut reparsed = parser::parse(printed)
        .map_err(|message| format!("confined form {printed:?} does not parse: {message}"))?;
    for_each_selector(&mut reparsed, &mut |selector| check(selector, namespace))
        .map_err(|reason| format!("confined form {printed:?} is not confined: {reason}"))?;
    if reparsed.to_string() != printed {
        return Err(format!(
            "confined form {printed:?} does not print back the same: {reparsed}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
