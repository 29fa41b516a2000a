//! Reading an `/api/v1/series` answer as *shapes*: one label set per distinct combination of
//! metric name and label names, every value but `__name__` left empty.
//!
//! Metric discovery needs only which labels a metric's series carry, never their values, and
//! 100,000 series of ten metrics usually have a handful of shapes. So the answer is read as it
//! is parsed — label names borrowed from the body, values skipped — and nothing per series is
//! kept: memory is the body plus the distinct shapes, instead of one map of owned strings per
//! series (about six times the body).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::Labels;

/// The label holding the metric name.
const NAME: &str = "__name__";

/// Separates the parts of a shape's key (label names cannot contain it).
const SEPARATOR: char = '\u{0}';

/// Reads the `data` array of a series answer into its distinct shapes, sorted.
pub(crate) fn read(data: &str) -> serde_json::Result<Vec<Labels>> {
    let mut deserializer = serde_json::Deserializer::from_str(data);
    let keys = deserializer.deserialize_seq(AllSeries)?;
    deserializer.end()?;
    let mut shapes: Vec<Labels> = keys.iter().map(|key| shape_of(key)).collect();
    shapes.sort();
    Ok(shapes)
}

/// The distinct shapes of label sets given whole (for stores without a streaming reader).
pub fn shapes_of<'a>(series: impl IntoIterator<Item = &'a Labels>) -> Vec<Labels> {
    let mut keys = HashSet::new();
    let mut names: Vec<&str> = Vec::new();
    for labels in series {
        names.clear();
        names.extend(labels.keys().map(String::as_str).filter(|n| *n != NAME));
        keys.insert(key(labels.get(NAME).map(String::as_str), &names));
    }
    let mut shapes: Vec<Labels> = keys.iter().map(|key| shape_of(key)).collect();
    shapes.sort();
    shapes
}

/// `name \0 label \0 label …` (label names sorted); an absent name is empty.
fn key(name: Option<&str>, sorted_names: &[&str]) -> String {
    let mut key = String::from(name.unwrap_or_default());
    for label in sorted_names {
        key.push(SEPARATOR);
        key.push_str(label);
    }
    key
}

/// The label set a key stands for.
fn shape_of(key: &str) -> Labels {
    let mut parts = key.split(SEPARATOR);
    let mut labels = Labels::new();
    if let Some(name) = parts.next().filter(|n| !n.is_empty()) {
        labels.insert(NAME.to_owned(), name.to_owned());
    }
    for label in parts {
        labels.insert(label.to_owned(), String::new());
    }
    labels
}

/// A string borrowed from the input where it has no escapes, owned where it has.
struct Text<'de>(Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The array of label sets, folded into the set of shape keys.
struct AllSeries;

impl<'de> Visitor<'de> for AllSeries {
    type Value = HashSet<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of label sets")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut keys = HashSet::new();
        let mut scratch = Scratch::default();
        while seq.next_element_seed(OneSeries(&mut scratch))?.is_some() {
            let mut names: Vec<&str> = scratch.names.iter().map(|n| n.as_ref()).collect();
            names.sort_unstable();
            let key = key(scratch.name.as_deref(), &names);
            if !keys.contains(&key) {
                keys.insert(key);
            }
        }
        Ok(keys)
    }
}

/// The parts of one label set that matter, reused across series.
#[derive(Default)]
struct Scratch {
    name: Option<String>,
    names: Vec<Box<str>>,
}

/// One label set, read into the scratch space.
struct OneSeries<'s>(&'s mut Scratch);

impl<'de> DeserializeSeed<'de> for OneSeries<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OneSeries<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a label set")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let scratch = self.0;
        scratch.name = None;
        scratch.names.clear();
        while let Some(Text(label)) = map.next_key::<Text<'de>>()? {
            if label == NAME {
                let Text(name) = map.next_value::<Text<'de>>()?;
                scratch.name = Some(name.into_owned());
            } else {
                map.next_value::<IgnoredAny>()?;
                scratch.names.push(label.into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn series_fold_into_their_distinct_shapes_with_values_dropped() {
        let data = r#"[
            {"__name__":"http_requests_total","namespace":"a","pod":"p1"},
            {"pod":"p2","namespace":"b","__name__":"http_requests_total"},
            {"__name__":"http_requests_total","namespace":"a","service":"s"},
            {"__name__":"up","job":"x \"quoted\""},
            {"__name__":"esc\u0061ped","le":"0.5"}
        ]"#;
        let shapes = read(data).unwrap();
        let show: Vec<String> = shapes
            .iter()
            .map(|s| {
                s.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(
            show,
            [
                "__name__=escaped,le=",
                "__name__=http_requests_total,namespace=,pod=",
                "__name__=http_requests_total,namespace=,service=",
                "__name__=up,job=",
            ]
        );
        let whole: Vec<Labels> = serde_json::from_str(data).unwrap();
        assert_eq!(shapes_of(&whole), shapes, "both readers agree");
    }

    #[test]
    fn what_is_not_an_array_of_label_sets_is_an_error() {
        assert!(read(r#"{"a":"b"}"#).is_err());
        assert!(read(r#"[{"a":1}] trailing"#).is_err());
        assert!(read(r#"["not a map"]"#).is_err());
        assert_eq!(read("[]").unwrap(), Vec::<Labels>::new());
    }
}
