//! Reading Prometheus HTTP API responses: the envelope, vectors, scalars, matrices and series,
//! rejecting anything else as a bad response rather than guessing.

use std::borrow::Cow;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{Error, KeyedSamples, Labels, RangeSeries, Result, Sample};

mod keyed;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    status: &'a str,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryData<'a> {
    result_type: &'a str,
    #[serde(borrow)]
    result: &'a RawValue,
}

/// A successful instant answer read in one pass (the envelope, its `data` and the samples,
/// each an `E`), the shape of nearly every answer; anything else is read again by [`data`] for
/// its error.
#[derive(Deserialize)]
#[serde(bound(deserialize = "'de: 'a, E: Deserialize<'de>"))]
struct InstantSuccess<'a, E> {
    status: &'a str,
    data: InstantResult<'a, E>,
}

/// `data` of an instant query; `resultType` precedes `result` in both stores' answers, so the
/// tag is known before the samples are read and nothing is buffered.
#[derive(Deserialize)]
#[serde(
    tag = "resultType",
    content = "result",
    rename_all = "lowercase",
    bound(deserialize = "'de: 'a, E: Deserialize<'de>")
)]
enum InstantResult<'a, E> {
    Vector(Vec<E>),
    Scalar((f64, ValueText<'a>)),
}

/// An element of an instant vector with all its labels.
#[derive(Deserialize)]
struct VectorElement<'a> {
    metric: Labels,
    #[serde(borrow)]
    value: (f64, ValueText<'a>),
}

/// An element of an instant vector, its labels left as text until one is looked up.
#[derive(Deserialize)]
struct RawElement<'a> {
    #[serde(borrow)]
    metric: &'a RawValue,
    #[serde(borrow)]
    value: (f64, ValueText<'a>),
}

/// The value of the label `name` in a sample's `metric` object (`None` without it), read
/// without building the map: the other labels' names are borrowed and their values skipped.
fn label_value(metric: &RawValue, name: &str) -> serde_json::Result<Option<String>> {
    struct Find<'n>(&'n str);
    impl<'de> serde::de::Visitor<'de> for Find<'_> {
        type Value = Option<String>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a map of label names to values")
        }

        fn visit_map<M: serde::de::MapAccess<'de>>(
            self,
            mut labels: M,
        ) -> std::result::Result<Self::Value, M::Error> {
            let mut found = None;
            while let Some(label) = labels.next_key::<ValueText<'de>>()? {
                if label.0 == self.0 {
                    found = Some(labels.next_value::<String>()?);
                } else {
                    labels.next_value::<serde::de::IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    serde::Deserializer::deserialize_map(
        &mut serde_json::Deserializer::from_str(metric.get()),
        Find(name),
    )
}

/// A sample's value as the store wrote it: borrowed from the body (no allocation per sample),
/// or unescaped into a string of its own when the text has escapes (valid JSON, though no store
/// is known to write a number that way).
struct ValueText<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for ValueText<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Text;
        impl<'de> serde::de::Visitor<'de> for Text {
            type Value = Cow<'de, str>;

            fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str("a sample value as a string")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> std::result::Result<Self::Value, E> {
                Ok(Cow::Borrowed(text))
            }

            fn visit_str<E>(self, text: &str) -> std::result::Result<Self::Value, E> {
                Ok(Cow::Owned(text.to_owned()))
            }
        }
        deserializer.deserialize_str(Text).map(ValueText)
    }
}

#[derive(Deserialize)]
struct MatrixElement {
    metric: Labels,
    values: Vec<(f64, String)>,
}

fn bad(status: u16, reason: impl Into<String>) -> Error {
    Error::BadResponse {
        status,
        reason: reason.into(),
    }
}

/// Opens the envelope: the `data` of a success, or the store's own error.
///
/// Errors are classified by the store's `errorType` (Prometheus: `timeout`, `canceled`,
/// `unavailable`, `bad_data`, …; VictoriaMetrics: the HTTP status as text) and, for bodies that
/// are not an envelope at all (a proxy's error page), by the HTTP status: 503 is unavailable,
/// 504 a timeout, anything else a bad response.
fn data(status: u16, body: &[u8]) -> Result<&RawValue> {
    let envelope: Envelope<'_> = match serde_json::from_slice(body) {
        Ok(envelope) => envelope,
        Err(error) => {
            return Err(match status {
                503 => Error::Unavailable {
                    url: String::new(),
                    reason: format!("HTTP 503: {}", snippet(body)),
                },
                504 => Error::Timeout {
                    deadline: std::time::Duration::ZERO,
                },
                _ => bad(status, format!("{error}; body starts {:?}", snippet(body))),
            });
        }
    };
    match (envelope.status, envelope.data) {
        ("success", Some(data)) => Ok(data),
        ("error", _) => {
            let error_type = envelope.error_type.unwrap_or_default();
            let message = envelope.error.unwrap_or_default();
            let mentions_timeout = ["timeout", "timed out", "took longer", "deadline"]
                .iter()
                .any(|w| message.contains(w));
            Err(match error_type.as_str() {
                // The store gave up within its own deadline; to a caller that is a timeout.
                "timeout" | "canceled" | "504" => Error::Timeout {
                    deadline: std::time::Duration::ZERO,
                },
                "503" if mentions_timeout => Error::Timeout {
                    deadline: std::time::Duration::ZERO,
                },
                "unavailable" | "503" => Error::Unavailable {
                    url: String::new(),
                    reason: message,
                },
                _ => Error::Query {
                    error_type,
                    message,
                },
            })
        }
        ("success", None) => Err(bad(status, "status \"success\" without data")),
        (other, _) => Err(bad(
            status,
            format!("unexpected status {other:?} (neither success nor error)"),
        )),
    }
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(120)]).into_owned()
}

fn timestamp(status: u16, seconds: f64) -> Result<Timestamp> {
    let millis = (seconds * 1000.0).round();
    if !millis.is_finite() || millis.abs() > 1e15 {
        return Err(bad(status, format!("timestamp {seconds} out of range")));
    }
    Timestamp::from_millisecond(millis as i64)
        .map_err(|e| bad(status, format!("timestamp {seconds}: {e}")))
}

/// Sample values are strings so NaN and ±Inf survive JSON; Rust reads `NaN`, `+Inf`, `-Inf`.
fn value(status: u16, text: &str) -> Result<f64> {
    text.parse()
        .map_err(|_| bad(status, format!("sample value {text:?} is not a number")))
}

fn parse<'a, T: Deserialize<'a>>(status: u16, raw: &'a RawValue) -> Result<T> {
    serde_json::from_str(raw.get()).map_err(|e| bad(status, e.to_string()))
}

/// The `data` of an answer to `/api/v1/query`, its vector's elements read as `E`.
fn instant_result<'a, E: Deserialize<'a>>(
    status: u16,
    body: &'a [u8],
) -> Result<InstantResult<'a, E>> {
    match serde_json::from_slice::<InstantSuccess<'_, E>>(body) {
        Ok(success) if success.status == "success" => Ok(success.data),
        // Not a plain success: open the envelope step by step to say what is wrong with it.
        _ => {
            let raw = data(status, body)?;
            let data: QueryData<'_> = parse(status, raw)?;
            match data.result_type {
                "vector" | "scalar" => parse(status, raw),
                other => Err(bad(
                    status,
                    format!("an instant query returned a {other}, expected a vector or scalar"),
                )),
            }
        }
    }
}

/// The answer to `/api/v1/query`: a vector, or a scalar as one unlabelled sample.
pub(crate) fn instant(status: u16, body: &[u8]) -> Result<Vec<Sample>> {
    match instant_result::<VectorElement<'_>>(status, body)? {
        InstantResult::Vector(elements) => elements
            .into_iter()
            .map(|e| {
                Ok(Sample {
                    labels: e.metric,
                    timestamp: timestamp(status, e.value.0)?,
                    value: value(status, &e.value.1.0)?,
                })
            })
            .collect(),
        InstantResult::Scalar((seconds, text)) => Ok(vec![Sample {
            labels: Labels::new(),
            timestamp: timestamp(status, seconds)?,
            value: value(status, &text.0)?,
        }]),
    }
}

/// The answer to `/api/v1/query` keyed by the label `label`: each element of a vector that has
/// it, nothing for a scalar (it has no labels).
pub(crate) fn instant_by(status: u16, body: &[u8], label: &str) -> Result<KeyedSamples> {
    // The common answer, read straight from the bytes; anything else (and every error) is
    // serde's to read.
    if let Some(samples) = keyed::read(body, label) {
        return Ok(samples);
    }
    instant_by_serde(status, body, label)
}

/// [`instant_by`] through serde: the reference the byte reader agrees with.
fn instant_by_serde(status: u16, body: &[u8], label: &str) -> Result<KeyedSamples> {
    let elements = match instant_result::<RawElement<'_>>(status, body)? {
        InstantResult::Vector(elements) => elements,
        InstantResult::Scalar(_) => return Ok(KeyedSamples::default()),
    };
    let mut keyed = KeyedSamples::with_capacity(elements.len(), 0);
    for element in elements {
        // Every element is read whole, so a garbled answer is refused whether or not the
        // element has the label.
        let (timestamp, value) = (
            timestamp(status, element.value.0)?,
            value(status, &element.value.1.0)?,
        );
        let key = label_value(element.metric, label).map_err(|e| bad(status, e.to_string()))?;
        if let Some(key) = key {
            keyed.push(&key, timestamp, value);
        }
    }
    Ok(keyed)
}

/// The answer to `/api/v1/query_range`: a matrix.
pub(crate) fn range(status: u16, body: &[u8]) -> Result<Vec<RangeSeries>> {
    let data: QueryData<'_> =
        serde_json::from_str(data(status, body)?.get()).map_err(|e| bad(status, e.to_string()))?;
    if data.result_type != "matrix" {
        return Err(bad(
            status,
            format!(
                "a range query returned a {}, expected a matrix",
                data.result_type
            ),
        ));
    }
    let elements: Vec<MatrixElement> =
        serde_json::from_str(data.result.get()).map_err(|e| bad(status, e.to_string()))?;
    elements
        .into_iter()
        .map(|e| {
            let points = e
                .values
                .iter()
                .map(|(t, v)| Ok((timestamp(status, *t)?, value(status, v)?)))
                .collect::<Result<_>>()?;
            Ok(RangeSeries {
                labels: e.metric,
                points,
            })
        })
        .collect()
}

/// The answer to `/api/v1/series` as its distinct shapes (see [`crate::shapes`]).
pub(crate) fn series_shapes(status: u16, body: &[u8]) -> Result<Vec<Labels>> {
    crate::shapes::read(data(status, body)?.get()).map_err(|e| bad(status, e.to_string()))
}

/// The answer to `/api/v1/metadata`: each metric's type (the first entry's, when targets
/// disagree).
pub(crate) fn metric_types(
    status: u16,
    body: &[u8],
) -> Result<std::collections::BTreeMap<String, String>> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(rename = "type")]
        kind: String,
    }
    let all: std::collections::BTreeMap<String, Vec<Entry>> =
        serde_json::from_str(data(status, body)?.get()).map_err(|e| bad(status, e.to_string()))?;
    Ok(all
        .into_iter()
        .filter_map(|(name, entries)| Some((name, entries.into_iter().next()?.kind)))
        .collect())
}

/// The answer to `/api/v1/label/<name>/values`: the values.
pub(crate) fn label_values(status: u16, body: &[u8]) -> Result<Vec<String>> {
    serde_json::from_str(data(status, body)?.get()).map_err(|e| bad(status, e.to_string()))
}

/// The answer to `/api/v1/series`: label sets.
pub(crate) fn series(status: u16, body: &[u8]) -> Result<Vec<Labels>> {
    serde_json::from_str(data(status, body)?.get()).map_err(|e| bad(status, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vectors_and_scalars() -> Result<()> {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1767225600.5,"1.5"]},{"metric":{},"value":[1767225600,"NaN"]}]}}"#;
        let samples = instant(200, body)?;
        assert_eq!(samples[0].labels["pod"], "a");
        assert_eq!(samples[0].value, 1.5);
        assert_eq!(samples[0].timestamp.as_millisecond(), 1_767_225_600_500);
        assert!(samples[1].value.is_nan());
        let scalar = instant(
            200,
            br#"{"status":"success","data":{"resultType":"scalar","result":[1767225600,"+Inf"]}}"#,
        )?;
        assert_eq!(scalar[0].value, f64::INFINITY);
        // Fields in another order (JSON objects are unordered) read the same.
        let reordered = instant(
            200,
            br#"{"data":{"result":[{"value":[1767225600,"2"],"metric":{"pod":"b"}}],"resultType":"vector"},"status":"success"}"#,
        )?;
        assert_eq!(
            (reordered[0].labels["pod"].as_str(), reordered[0].value),
            ("b", 2.0)
        );
        // A value with an escape (`\u0031` is `1`) is valid JSON and reads as its text.
        let escaped = instant(
            200,
            br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1767225600,"\u0031.5"]}]}}"#,
        )?;
        assert_eq!(escaped[0].value, 1.5);
        Ok(())
    }

    #[test]
    fn reads_vectors_keyed_by_one_label() -> Result<()> {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"namespace":"ns1","pod":"a","x":{"not":"a string"}},"value":[1767225600.5,"1.5"]},
            {"metric":{"namespace":"ns1"},"value":[1767225600,"2"]},
            {"metric":{"p\u006fd":"b\"c"},"value":[1767225600,"NaN"]}]}}"#;
        let keyed = instant_by(200, body, "pod")?;
        assert_eq!(
            keyed.len(),
            2,
            "the sample without `pod` is left out: {keyed:?}"
        );
        let read: Vec<_> = keyed
            .iter()
            .map(|s| (s.key, s.value, s.timestamp.as_millisecond()))
            .collect();
        assert_eq!(
            (read[0].0, read[0].1),
            ("a", 1.5),
            "the other labels skipped"
        );
        assert_eq!(read[0].2, 1_767_225_600_500);
        // Escapes in a label's name and value are read as JSON means them.
        assert_eq!(read[1].0, "b\"c");
        assert!(read[1].1.is_nan());
        let scalar = instant_by(
            200,
            br#"{"status":"success","data":{"resultType":"scalar","result":[1767225600,"1"]}}"#,
            "pod",
        )?;
        assert!(scalar.is_empty(), "a scalar has no labels");
        Ok(())
    }

    /// What both readers of an instant answer make of `body`: the number of samples read.
    fn read_both(status: u16, body: &[u8]) -> [Result<usize>; 2] {
        [
            instant(status, body).map(|samples| samples.len()),
            instant_by(status, body, "pod").map(|samples| samples.len()),
        ]
    }

    #[test]
    fn classifies_store_errors() {
        for syntax in read_both(
            400,
            br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
        ) {
            assert!(
                matches!(syntax, Err(Error::Query { ref error_type, ref message }) if error_type == "bad_data" && message.contains("char 5"))
            );
        }
        for timeout in read_both(
            503,
            br#"{"status":"error","errorType":"timeout","error":"query timed out"}"#,
        ) {
            assert!(matches!(timeout, Err(Error::Timeout { .. })));
        }
        for victoria_timeout in read_both(
            503,
            br#"{"status":"error","errorType":"503","error":"the request took longer than the deadline"}"#,
        ) {
            assert!(matches!(victoria_timeout, Err(Error::Timeout { .. })));
        }
        for unavailable in read_both(
            503,
            br#"{"status":"error","errorType":"unavailable","error":"shutting down"}"#,
        ) {
            assert!(matches!(unavailable, Err(Error::Unavailable { .. })));
        }
        for proxy_unavailable in read_both(503, b"<html>no healthy upstream</html>") {
            assert!(matches!(proxy_unavailable, Err(Error::Unavailable { .. })));
        }
        for proxy_timeout in read_both(504, b"upstream request timeout") {
            assert!(matches!(proxy_timeout, Err(Error::Timeout { .. })));
        }
    }

    #[test]
    fn rejects_what_is_not_a_prometheus_answer() {
        for (body, expected) in [
            (&b"<html>502 Bad Gateway</html>"[..], "body starts"),
            (br#"{"status":"success","data":{"resultType":"string","result":[1,"x"]}}"#, "expected a vector"),
            (br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"abc"]}]}}"#, "not a number"),
            (br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":["pod","a"],"value":[1,"2"]}]}}"#, "expected"),
            (br#"{"status":"weird"}"#, "unexpected status"),
            (br#"{"status":"weird","data":{"resultType":"vector","result":[]}}"#, "unexpected status"),
            (br#"{"status":"success"}"#, "without data"),
        ] {
            for read in read_both(200, body) {
                match read {
                    Err(Error::BadResponse { reason, .. }) => assert!(reason.contains(expected), "{reason}"),
                    other => panic!("expected a bad response, got {other:?}"),
                }
            }
        }
        assert!(matches!(
            range(
                200,
                br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#
            ),
            Err(Error::BadResponse { .. })
        ));
    }
}
