#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::response::instant_by_serde;

/// What a reader answered, comparable (NaN equals NaN here).
fn comparable(samples: &KeyedSamples) -> Vec<(String, i64, u64)> {
    samples
        .iter()
        .map(|s| {
            (
                s.key.to_owned(),
                s.timestamp.as_millisecond(),
                s.value.to_bits(),
            )
        })
        .collect()
}

const PROMETHEUS: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"web-1"},"value":[1795000000.123,"4.5"]},{"metric":{"namespace":"shop"},"value":[1795000000.123,"1"]},{"metric":{"pod":"web-2","namespace":"shop"},"value":[1795000000.123,"NaN"]}]}}"#;

#[test]
fn reads_prometheus_answer_keyed_by_the_label_and_skips_elements_without_it() {
    let samples = read(PROMETHEUS.as_bytes(), "pod").unwrap();
    assert_eq!(samples.len(), 2);
    assert_eq!(samples.get(0).unwrap().key, "web-1");
    assert_eq!(samples.get(0).unwrap().value, 4.5);
    assert_eq!(
        samples.get(0).unwrap().timestamp.as_millisecond(),
        1_795_000_000_123
    );
    assert_eq!(samples.get(1).unwrap().key, "web-2");
    assert!(samples.get(1).unwrap().value.is_nan());
    assert_eq!(
        comparable(&samples),
        comparable(&instant_by_serde(200, PROMETHEUS.as_bytes(), "pod").unwrap())
    );
}

#[test]
fn reads_victoria_metrics_answer_with_fields_prometheus_does_not_send() {
    let body = br#"{"status":"success","isPartial":false,"data":{"resultType":"vector","result":[
        {"metric":{"pod":"a"},"value":[1700000000,"3"]}]},"stats":{"seriesFetched":"1","executionTimeMsec":0},"warnings":[null,true,-1.5e-3]}"#;
    let samples = read(body, "pod").unwrap();
    assert_eq!(
        (samples.get(0).unwrap().key, samples.get(0).unwrap().value),
        ("a", 3.0)
    );
}

#[test]
fn an_element_that_starts_compact_and_goes_on_otherwise_is_read_whole() {
    let body = br#"{"status":"success","data":{"resultType":"vector","result":[
        {"metric":{"pod":"a"},"value":[1700000000,"3"],"histogram":[1,{"count":"2"}]},
        {"metric":{"pod":"b"},"value":[1700000000,"4"]}]}}"#;
    let samples = read(body, "pod").unwrap();
    assert_eq!(
        comparable(&samples),
        comparable(&instant_by_serde(200, body, "pod").unwrap())
    );
    assert_eq!(
        samples.iter().map(|s| (s.key, s.value)).collect::<Vec<_>>(),
        [("a", 3.0), ("b", 4.0)]
    );
}

#[test]
fn leaves_everything_but_a_clean_successful_vector_to_serde() {
    for body in [
        // An error envelope, a scalar, no data.
        r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
        r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000,"1"]}}"#,
        r#"{"status":"success"}"#,
        // Fields given twice (serde refuses them).
        r#"{"status":"success","status":"success","data":{"resultType":"vector","result":[]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"metric":{},"value":[1,"1"]}]}}"#,
        // … also after an element's compact start.
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1,"1"],"value":[1,"2"]}]}}"#,
        // The samples before their type (serde cannot read keyed samples that way round).
        r#"{"status":"success","data":{"result":[{"metric":{"pod":"a"},"value":[1,"1"]}],"resultType":"vector"}}"#,
        // Escapes and a label value that is not a string.
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a\"b"},"value":[1,"1"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a","x":{}},"value":[1,"1"]}]}}"#,
        // Malformed: trailing text, a missing value, a bad number, a value that is not one.
        r#"{"status":"success","data":{"resultType":"vector","result":[]}} x"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[01,"1"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"one"]}]}}"#,
        r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}"#,
        "<html>bad gateway</html>",
        "",
    ] {
        assert!(read(body.as_bytes(), "pod").is_none(), "{body}");
    }
    // A body that is not UTF-8, even where nothing is read.
    let mut latin1 =
        br#"{"status":"success","data":{"resultType":"vector","result":[]},"x":""#.to_vec();
    latin1.extend_from_slice(b"caf\xe9\"}");
    assert!(read(&latin1, "pod").is_none());
}

/// A label name or value: mostly plain, sometimes with what JSON must escape.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z][a-z0-9_-]{0,12}",
        1 => "[a-z\"\\\\/\u{1}\u{e9}\u{1F600} ]{0,6}",
    ]
}

/// A sample value as a store writes it, or something that is not one.
fn value_text() -> impl Strategy<Value = String> {
    prop_oneof![
        (-1e6..1e6f64).prop_map(|v| v.to_string()),
        "-?[0-9]{1,8}(\\.[0-9]{1,6})?",
        Just("NaN".to_owned()),
        Just("+Inf".to_owned()),
        Just("-Inf".to_owned()),
        Just("1e3".to_owned()),
        Just("0x1".to_owned()),
    ]
}

/// An element as written: its labels, its timestamp's text and its value's text.
type Element = (Vec<(String, String)>, String, String);

/// An element: labels, timestamp (seconds with up to three decimals, sometimes an exponent),
/// value.
fn element() -> impl Strategy<Value = Element> {
    (
        proptest::collection::vec((text(), text()), 0..4),
        prop_oneof![
            (1_600_000_000_000i64..1_900_000_000_000).prop_map(|ms| format!(
                "{}.{:03}",
                ms / 1000,
                ms % 1000
            )),
            (1_600_000_000i64..1_900_000_000).prop_map(|s| s.to_string()),
            (1_600_000_000i64..1_900_000_000, 0u32..100).prop_map(|(s, c)| format!("{s}.{c}")),
            (0i64..999_999_999_999).prop_map(|s| format!("{s}.5")),
            // More decimals than milliseconds: read by serde_json's own number parser.
            (1_600_000_000i64..1_900_000_000, 0u64..1_000_000_000)
                .prop_map(|(s, f)| format!("{s}.{f:09}")),
            Just("1.7e9".to_owned()),
        ],
        value_text(),
    )
}

/// An answer as Prometheus (fields in its order, compact) or another store (fields reversed,
/// spaces and newlines, extra fields) might write it. `resultType` stays before `result`, as
/// both stores write it: the serde reader cannot read keyed samples the other way round
/// (their `metric` is borrowed raw text, which serde cannot buffer), the byte reader can.
fn answer(elements: &[Element], reordered: bool) -> String {
    let json = |s: &str| serde_json::to_string(s).unwrap();
    let (sep, nl) = if reordered {
        (" : ", "\n  ")
    } else {
        (":", "")
    };
    let items: Vec<String> = elements
        .iter()
        .map(|(labels, seconds, value)| {
            let labels: Vec<String> = labels
                .iter()
                .map(|(n, v)| format!("{}{sep}{}", json(n), json(v)))
                .collect();
            let metric = format!("\"metric\"{sep}{{{}}}", labels.join(","));
            let point = format!("\"value\"{sep}[{nl}{seconds} ,{}]", json(value));
            if reordered {
                format!("{{{point},{nl}{metric}}}")
            } else {
                format!("{{{metric},{point}}}")
            }
        })
        .collect();
    let result = format!("\"result\"{sep}[{nl}{}]", items.join(&format!(",{nl}")));
    if reordered {
        format!(
            "{{\"stats\":{{\"a\":[1,2.5e-1,null]}},\"data\"{sep}{{\"resultType\"{sep}\"vector\",{result}}},{nl}\"status\"{sep}\"success\"}}\n"
        )
    } else {
        format!("{{\"status\":\"success\",\"data\":{{\"resultType\":\"vector\",{result}}}}}")
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Plain decimals are read bit for bit as Rust's `f64` parser reads them, and every one of
    /// up to 15 digits takes that way.
    #[test]
    fn plain_decimals_read_as_the_general_parser_reads_them(
        text in "-?[0-9]{1,12}(\\.[0-9]{0,10})?",
    ) {
        let general: f64 = text.parse().unwrap();
        match plain_decimal(&text) {
            Some(value) => prop_assert_eq!(value.to_bits(), general.to_bits(), "{}", text),
            None => prop_assert!(
                text.ends_with('.') || text.trim_start_matches('-').len() - usize::from(text.contains('.')) > 15,
                "{} left to the general parser", text
            ),
        }
    }

    /// Whenever the byte reader answers, serde answers the same; a clean answer that serde
    /// reads, it reads too (so the fast path is the one taken).
    #[test]
    fn agrees_with_serde_and_reads_every_clean_answer(
        elements in proptest::collection::vec(element(), 0..6),
        reordered in any::<bool>(),
        label in prop_oneof![Just("pod".to_owned()), text()],
    ) {
        let body = answer(&elements, reordered);
        let fast = read(body.as_bytes(), &label);
        let serde = instant_by_serde(200, body.as_bytes(), &label);
        if let Some(fast) = &fast {
            prop_assert_eq!(Some(comparable(fast)), serde.as_ref().ok().map(comparable));
        }
        let plain = |s: &str| !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
        let clean = elements.iter().all(|(labels, _, value)| {
            value != "0x1"
                && labels.iter().all(|(n, v)| plain(n) && plain(v))
                && labels.iter().filter(|(n, _)| *n == label).count() <= 1
        }) && plain(&label);
        if clean && serde.is_ok() {
            prop_assert!(fast.is_some(), "a clean answer left to serde: {}", body);
        }
    }

    /// A damaged answer (cut short, or a byte changed) is never read differently from serde.
    #[test]
    fn damaged_answers_are_read_as_serde_reads_them_or_left_to_it(
        elements in proptest::collection::vec(element(), 1..4),
        reordered in any::<bool>(),
        cut in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        truncate in any::<bool>(),
    ) {
        let mut body = answer(&elements, reordered).into_bytes();
        let at = cut.index(body.len());
        if truncate {
            body.truncate(at);
        } else {
            body[at] = byte;
        }
        if let Some(fast) = read(&body, "pod") {
            let serde = instant_by_serde(200, &body, "pod");
            prop_assert_eq!(
                Some(comparable(&fast)),
                serde.as_ref().ok().map(comparable),
                "{}", String::from_utf8_lossy(&body)
            );
        }
    }

    /// The answer of `sum by (pod)`: each element's one label the key, most times shared
    /// (what the compact-element, lone-label and same-time paths read), sometimes a label
    /// more or a time of its own; damaged or not, read as serde reads it.
    #[test]
    fn sum_by_answers_are_read_as_serde_reads_them(
        elements in proptest::collection::vec(
            (
                text(),
                prop::option::weighted(0.2, (text(), text())),
                prop_oneof![
                    4 => Just("1795000000.123".to_owned()),
                    1 => Just("1795000000.12".to_owned()),
                    1 => Just("1795000000.1234".to_owned()),
                    1 => Just("1795000000".to_owned()),
                ],
                value_text(),
            ),
            0..8,
        ),
        damage in prop::option::weighted(0.3, (any::<prop::sample::Index>(), any::<u8>())),
    ) {
        let json = |s: &str| serde_json::to_string(s).unwrap();
        let items: Vec<String> = elements
            .iter()
            .map(|(pod, more, seconds, value)| {
                let extra = more
                    .as_ref()
                    .map(|(n, v)| format!(",{}:{}", json(n), json(v)))
                    .unwrap_or_default();
                format!(
                    "{{\"metric\":{{\"pod\":{}{extra}}},\"value\":[{seconds},{}]}}",
                    json(pod),
                    json(value)
                )
            })
            .collect();
        let mut body = format!(
            "{{\"status\":\"success\",\"data\":{{\"resultType\":\"vector\",\"result\":[{}]}}}}",
            items.join(",")
        )
        .into_bytes();
        if let Some((at, byte)) = damage {
            let at = at.index(body.len());
            body[at] = byte;
        }
        let serde = instant_by_serde(200, &body, "pod");
        match read(&body, "pod") {
            Some(fast) => prop_assert_eq!(
                Some(comparable(&fast)),
                serde.as_ref().ok().map(comparable),
                "{}", String::from_utf8_lossy(&body)
            ),
            // Undamaged and clean, it must be read here.
            None => prop_assert!(
                damage.is_some()
                    || serde.is_err()
                    || elements.iter().any(|(pod, more, _, value)| {
                        let plain = |s: &str| !s.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
                        !plain(pod)
                            || value == "0x1"
                            || more.as_ref().is_some_and(|(n, v)| !plain(n) || !plain(v) || n == "pod")
                    }),
                "a clean answer left to serde: {}", String::from_utf8_lossy(&body)
            ),
        }
    }
}
