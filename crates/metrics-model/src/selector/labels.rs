//! The Kubernetes rules for label keys and values (k8s.io/apimachinery `validation`).

use crate::{Error, Result};

const NAME_MAX: usize = 63;
const PREFIX_MAX: usize = 253;

/// Checks a label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// alphanumerics, `-`, `_` or `.`, starting and ending alphanumeric.
pub fn validate_key(key: &str) -> Result<()> {
    let error = |reason| Error::LabelKey {
        key: key.to_owned(),
        reason,
    };
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err(error("the prefix before '/' must not be empty"));
        }
        if prefix.len() > PREFIX_MAX {
            return Err(error("the prefix must be no more than 253 characters"));
        }
        if !is_dns_subdomain(prefix) {
            return Err(error(
                "the prefix must be a DNS subdomain: lower-case alphanumerics, '-' or '.', each part starting and ending alphanumeric",
            ));
        }
    }
    if name.is_empty() {
        return Err(error("the name part must not be empty"));
    }
    if name.len() > NAME_MAX {
        return Err(error("the name part must be no more than 63 characters"));
    }
    if !is_qualified_name(name) {
        return Err(error(
            "the name part must consist of alphanumerics, '-', '_' or '.', and start and end with an alphanumeric (one '/' at most separates a prefix)",
        ));
    }
    Ok(())
}

/// Checks a label value: empty, or at most 63 alphanumerics, `-`, `_` or `.`, starting and
/// ending alphanumeric.
pub fn validate_value(value: &str) -> Result<()> {
    let error = |reason| Error::LabelValue {
        value: value.to_owned(),
        reason,
    };
    if value.len() > NAME_MAX {
        return Err(error("must be no more than 63 characters"));
    }
    if !value.is_empty() && !is_qualified_name(value) {
        return Err(error(
            "must be empty or consist of alphanumerics, '-', '_' or '.', and start and end with an alphanumeric",
        ));
    }
    Ok(())
}

fn is_qualified_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let alphanumeric_ends = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    alphanumeric_ends
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(prefix: &str) -> bool {
    prefix.split('.').all(|part| {
        let bytes = part.as_bytes();
        let is_lower_alphanumeric = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        bytes.first().is_some_and(is_lower_alphanumeric)
            && bytes.last().is_some_and(is_lower_alphanumeric)
            && bytes.iter().all(|b| is_lower_alphanumeric(b) || *b == b'-')
    })
}
