//! Kubernetes label selectors: the `labelSelector` string syntax of list requests, the
//! `LabelSelector` object of API types, validation of keys and values, and matching.
//!
//! The grammar and semantics are those of k8s.io/apimachinery `labels.Parse`, except that the
//! numeric `<` and `>` operators are rejected: neither PromQL nor `LabelSelector` objects can
//! express them, so accepting them would promise a selection Sextant cannot make.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

use crate::{Error, Result};

mod labels;
mod lexer;

pub use labels::{validate_key, validate_value};
use lexer::{Lexer, Token, TokenKind};

/// How a requirement relates a label to its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `key=value` or `key==value`: the label is present with that value.
    Equals,
    /// `key!=value`: the label is absent or has another value.
    NotEquals,
    /// `key in (a,b)`: the label is present with one of the values.
    In,
    /// `key notin (a,b)`: the label is absent or has none of the values.
    NotIn,
    /// `key`: the label is present.
    Exists,
    /// `!key`: the label is absent.
    DoesNotExist,
}

/// One clause of a selector; all clauses of a [`Selector`] must hold.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    key: String,
    operator: Operator,
    values: Vec<String>,
}

/// A conjunction of requirements, as in `app in (web,api),tier!=cache`.
///
/// The empty selector matches every label set, as in Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Selector {
    requirements: Vec<Requirement>,
}

/// Anything that can answer "what is the value of label `key`?".
pub trait LabelSet {
    /// The value of `key`, or `None` when the label is absent.
    fn label(&self, key: &str) -> Option<&str>;
}

impl LabelSet for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl<S: std::hash::BuildHasher> LabelSet for HashMap<String, String, S> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

impl LabelSet for [(&str, &str)] {
    fn label(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl Requirement {
    /// Builds a requirement after checking the key, every value, and the value count the
    /// operator needs (one for `=`/`!=`, at least one for `in`/`notin`, none for existence).
    pub fn new(
        key: impl Into<String>,
        operator: Operator,
        values: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self> {
        let key = key.into();
        validate_key(&key)?;
        let mut values: Vec<String> = values.into_iter().map(Into::into).collect();
        for value in &values {
            validate_value(value)?;
        }
        let count_error = |reason: &str| Error::SelectorObject {
            field: key.clone(),
            reason: reason.to_owned(),
        };
        match operator {
            Operator::Equals | Operator::NotEquals if values.len() != 1 => {
                return Err(count_error("exactly one value is required for = and !="));
            }
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(count_error(
                    "at least one value is required for in and notin",
                ));
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(count_error(
                    "values are not allowed for exists and does-not-exist",
                ));
            }
            _ => {}
        }
        values.sort();
        values.dedup();
        Ok(Requirement {
            key,
            operator,
            values,
        })
    }

    /// The label key the requirement tests.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// How the label is tested.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The values, sorted and without duplicates; empty for existence tests.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether a label set satisfies this requirement, with Kubernetes semantics: `!=` and
    /// `notin` also hold when the label is absent.
    pub fn matches<L: LabelSet + ?Sized>(&self, labels: &L) -> bool {
        let value = labels.label(&self.key);
        let listed = || value.is_some_and(|v| self.values.iter().any(|x| x == v));
        match self.operator {
            Operator::Equals | Operator::In => listed(),
            Operator::NotEquals | Operator::NotIn => !listed(),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        }
    }
}

impl Selector {
    /// The selector that matches everything (the empty string).
    pub fn everything() -> Self {
        Selector::default()
    }

    /// Builds a selector from requirements, ordered by key as Kubernetes orders them.
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Selector { requirements }
    }

    /// Parses the `labelSelector` string syntax; errors name the offending token and its byte
    /// position.
    pub fn parse(input: &str) -> Result<Self> {
        Parser::new(input).parse()
    }

    /// Converts a `LabelSelector` object (matchLabels and matchExpressions) into a selector.
    pub fn from_label_selector(selector: &LabelSelector) -> Result<Self> {
        let mut requirements = Vec::new();
        for (key, value) in selector.match_labels.iter().flatten() {
            requirements.push(Requirement::new(key, Operator::Equals, [value])?);
        }
        for (index, expression) in selector.match_expressions.iter().flatten().enumerate() {
            requirements.push(expression_requirement(index, expression)?);
        }
        Ok(Selector::from_requirements(requirements))
    }

    /// The `LabelSelector` object form, as placed in `MetricIdentifier.selector`.
    pub fn to_label_selector(&self) -> LabelSelector {
        let mut match_labels = BTreeMap::new();
        let mut match_expressions = Vec::new();
        for requirement in &self.requirements {
            let (operator, values) = match requirement.operator {
                Operator::Equals => {
                    match_labels.insert(requirement.key.clone(), requirement.values.concat());
                    continue;
                }
                Operator::NotEquals | Operator::NotIn => {
                    ("NotIn", Some(requirement.values.clone()))
                }
                Operator::In => ("In", Some(requirement.values.clone())),
                Operator::Exists => ("Exists", None),
                Operator::DoesNotExist => ("DoesNotExist", None),
            };
            match_expressions.push(LabelSelectorRequirement {
                key: requirement.key.clone(),
                operator: operator.to_owned(),
                values,
            });
        }
        LabelSelector {
            match_labels: (!match_labels.is_empty()).then_some(match_labels),
            match_expressions: (!match_expressions.is_empty()).then_some(match_expressions),
        }
    }

    /// The requirements, ordered by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True for the selector that matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether a label set satisfies every requirement.
    pub fn matches<L: LabelSet + ?Sized>(&self, labels: &L) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

fn expression_requirement(
    index: usize,
    expression: &LabelSelectorRequirement,
) -> Result<Requirement> {
    let operator = match expression.operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(Error::SelectorObject {
                field: format!("matchExpressions[{index}].operator"),
                reason: format!("{other:?} is not one of In, NotIn, Exists, DoesNotExist"),
            });
        }
    };
    let values = expression.values.iter().flatten().map(String::as_str);
    Requirement::new(&expression.key, operator, values).map_err(|error| match error {
        Error::SelectorObject { reason, .. } => Error::SelectorObject {
            field: format!("matchExpressions[{index}].values"),
            reason,
        },
        other => other,
    })
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let values = self.values.join(",");
        match self.operator {
            Operator::Equals => write!(f, "{key}={values}"),
            Operator::NotEquals => write!(f, "{key}!={values}"),
            Operator::In => write!(f, "{key} in ({values})"),
            Operator::NotIn => write!(f, "{key} notin ({values})"),
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
        }
    }
}

impl fmt::Display for Selector {
    /// The canonical string form, which [`Selector::parse`] reads back to an equal selector.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, requirement) in self.requirements.iter().enumerate() {
            if index > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl FromStr for Selector {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Selector::parse(s)
    }
}

/// A recursive-descent parser over the selector tokens, shaped like `labels.Parse`.
struct Parser<'a> {
    input: &'a str,
    lexer: Lexer<'a>,
}

impl<'a> Parser<'a> {
    fn new(input: &'a str) -> Self {
        Parser {
            input,
            lexer: Lexer::new(input),
        }
    }

    fn error(&self, token: &Token<'_>, reason: impl Into<String>) -> Error {
        Error::Selector {
            input: self.input.to_owned(),
            position: token.position,
            reason: reason.into(),
        }
    }

    fn unexpected(&self, token: &Token<'_>, expected: &str) -> Error {
        self.error(
            token,
            format!("found {}, expected {expected}", token.describe()),
        )
    }

    fn parse(mut self) -> Result<Selector> {
        let mut requirements = Vec::new();
        loop {
            let token = self.lexer.peek();
            match token.kind {
                TokenKind::End if requirements.is_empty() => break,
                // In key position `in` and `notin` are plain identifiers, as in Kubernetes.
                TokenKind::Identifier | TokenKind::In | TokenKind::NotIn | TokenKind::Not => {
                    requirements.push(self.requirement()?);
                    let separator = self.lexer.next();
                    match separator.kind {
                        TokenKind::End => break,
                        TokenKind::Comma => {
                            let next = self.lexer.peek();
                            if !matches!(
                                next.kind,
                                TokenKind::Identifier
                                    | TokenKind::In
                                    | TokenKind::NotIn
                                    | TokenKind::Not
                            ) {
                                return Err(self.unexpected(&next, "an identifier after ','"));
                            }
                        }
                        _ => {
                            return Err(
                                self.unexpected(&separator, "',' or the end of the selector")
                            );
                        }
                    }
                }
                _ => {
                    return Err(
                        self.unexpected(&token, "'!', an identifier, or the end of the selector")
                    );
                }
            }
        }
        Ok(Selector::from_requirements(requirements))
    }

    fn requirement(&mut self) -> Result<Requirement> {
        let first = self.lexer.next();
        let negated = first.kind == TokenKind::Not;
        let key_token = if negated { self.lexer.next() } else { first };
        if !matches!(
            key_token.kind,
            TokenKind::Identifier | TokenKind::In | TokenKind::NotIn
        ) {
            return Err(self.unexpected(&key_token, "a label key"));
        }
        let key = key_token.text;
        validate_key(key).map_err(|error| self.error(&key_token, error.to_string()))?;
        let build = |parser: &Self, operator, values: Vec<Token<'_>>| {
            // Each value is checked where it stands, so the error points at it.
            for value in &values {
                validate_value(value.text)
                    .map_err(|error| parser.error(value, error.to_string()))?;
            }
            let values = values.iter().map(|v| v.text);
            Requirement::new(key, operator, values)
                .map_err(|error| parser.error(&key_token, error.to_string()))
        };
        if negated {
            return build(self, Operator::DoesNotExist, vec![]);
        }
        let operator_token = self.lexer.peek();
        let operator = match operator_token.kind {
            TokenKind::End | TokenKind::Comma => return build(self, Operator::Exists, vec![]),
            TokenKind::Equals | TokenKind::DoubleEquals => Operator::Equals,
            TokenKind::NotEquals => Operator::NotEquals,
            TokenKind::In => Operator::In,
            TokenKind::NotIn => Operator::NotIn,
            TokenKind::GreaterThan | TokenKind::LessThan => {
                return Err(self.error(
                    &operator_token,
                    "numeric comparisons (< and >) are not supported: they cannot be sent to a metrics store",
                ));
            }
            _ => return Err(self.unexpected(&operator_token, "=, ==, !=, in or notin")),
        };
        self.lexer.next();
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_list()?,
            _ => vec![self.exact_value()?],
        };
        build(self, operator, values)
    }

    /// The single value after `=`, `==` or `!=`; nothing before `,` or the end means "".
    fn exact_value(&mut self) -> Result<Token<'a>> {
        let token = self.lexer.peek();
        match token.kind {
            TokenKind::End | TokenKind::Comma => Ok(Token { text: "", ..token }),
            // As in Kubernetes, `in` and `notin` are keywords only where an operator may stand.
            TokenKind::Identifier | TokenKind::In | TokenKind::NotIn => {
                self.lexer.next();
                Ok(token)
            }
            _ => Err(self.unexpected(&token, "a value")),
        }
    }

    /// `( v1, v2, … )`; empty places in the list are the empty value, as in Kubernetes.
    fn value_list(&mut self) -> Result<Vec<Token<'a>>> {
        let open = self.lexer.next();
        if open.kind != TokenKind::OpenParen {
            return Err(self.unexpected(&open, "'('"));
        }
        let mut values = Vec::new();
        let mut expecting_value = true;
        loop {
            let token = self.lexer.next();
            match token.kind {
                TokenKind::Identifier | TokenKind::In | TokenKind::NotIn if expecting_value => {
                    values.push(token);
                    expecting_value = false;
                }
                TokenKind::Comma => {
                    if expecting_value {
                        values.push(Token { text: "", ..token });
                    }
                    expecting_value = true;
                }
                TokenKind::CloseParen => {
                    if expecting_value {
                        values.push(Token { text: "", ..token });
                    }
                    return Ok(values);
                }
                _ if expecting_value => return Err(self.unexpected(&token, "a value, ',' or ')'")),
                _ => return Err(self.unexpected(&token, "',' or ')'")),
            }
        }
    }
}

#[cfg(test)]
mod tests;
