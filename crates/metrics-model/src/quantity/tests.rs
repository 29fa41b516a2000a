use proptest::prelude::*;

use super::*;

fn canonical(input: &str) -> String {
    Quantity::parse(input)
        .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
        .to_string()
}

#[test]
fn formats_as_the_api_server_does() {
    let cases = [
        ("0", "0"),
        ("0.0", "0"),
        ("-0", "0"),
        ("1500m", "1500m"),
        ("1.5", "1500m"),
        ("+1.5", "1500m"),
        ("-1.5", "-1500m"),
        ("0.5", "500m"),
        (".5", "500m"),
        ("1.", "1"),
        ("1.25", "1250m"),
        ("10", "10"),
        ("1500", "1500"),
        ("2000", "2k"),
        ("100000", "100k"),
        ("2k", "2k"),
        ("1.5k", "1500"),
        ("1M", "1M"),
        ("8E", "8E"),
        ("1n", "1n"),
        ("1u", "1u"),
        ("1000u", "1m"),
        ("1Mi", "1Mi"),
        ("1024Ki", "1Mi"),
        ("1536Ki", "1536Ki"),
        ("1.5Gi", "1536Mi"),
        ("0.5Ki", "512"),
        ("1.1Ki", "1126400m"),
        ("1e3", "1e3"),
        ("1E3", "1e3"),
        ("1.5e3", "1500"),
        ("100e-3", "100e-3"),
        ("1e+3", "1e3"),
        ("9223372036854775807", "9223372036854775807"),
        // Around the edge of the 64-bit fast path (nanos within ±(2^63−1)) and past it.
        ("9223372036854775807n", "9223372036854775807n"),
        ("9223372036854775808n", "9223372036854775808n"),
        ("-9223372036854775808n", "-9223372036854775808n"),
        ("-9223372036854775809n", "-9223372036854775809n"),
        ("9223372036854775000n", "9223372036854775u"),
        ("9223372036854776000n", "9223372036854776u"),
        ("-9223372036854776000n", "-9223372036854776u"),
    ];
    for (input, expected) in cases {
        assert_eq!(canonical(input), expected, "canonical form of {input:?}");
        // The JSON form a list of values writes: the canonical form quoted, nothing around it.
        let mut json = b"[".to_vec();
        Quantity::parse(input)
            .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
            .write_json(&mut json);
        assert_eq!(
            String::from_utf8_lossy(&json),
            format!("[\"{expected}\""),
            "JSON form of {input:?}"
        );
    }
}

#[test]
fn rounds_below_a_nano_away_from_zero() {
    assert_eq!(canonical("0.1n"), "1n");
    assert_eq!(canonical("-0.1n"), "-1n");
    assert_eq!(
        canonical("1e-30"),
        "1e-9",
        "an exponent quantity keeps its format"
    );
    assert_eq!(canonical("1.0000000001"), "1000000001n");
    assert_eq!(canonical("0.0000000000000Ki"), "0");
}

#[test]
fn reports_where_and_why_a_quantity_is_malformed() {
    let cases = [
        ("", 0, "empty quantity"),
        ("abc", 0, "expected a number"),
        ("+", 1, "expected a number"),
        (".", 0, "expected a number"),
        ("1.5x", 3, "unknown suffix"),
        ("1Ki5", 1, "unknown suffix"),
        ("1e", 2, "expected exponent digits"),
        ("1e+x", 3, "expected a digit in the exponent"),
        (" 1", 0, "expected a number"),
        ("1 ", 1, "unknown suffix"),
        ("10E", 0, "out of range"),
        ("9223372036854775808", 0, "out of range"),
        ("1e19", 0, "out of range"),
        ("12345678901234567890", 0, "out of range"),
    ];
    for (input, expected_position, expected_reason) in cases {
        match Quantity::parse(input) {
            Err(Error::Quantity {
                position, reason, ..
            }) => {
                assert_eq!(position, expected_position, "position for {input:?}");
                assert!(
                    reason.starts_with(expected_reason),
                    "reason for {input:?}: {reason}"
                );
            }
            other => panic!("{input:?} should be rejected, got {other:?}"),
        }
    }
}

#[test]
fn milli_value_rounds_away_from_zero_like_the_hpa() {
    let milli = |s: &str| Quantity::parse(s).map(|q| q.milli_value()).ok();
    assert_eq!(milli("1.5"), Some(1500));
    assert_eq!(milli("250m"), Some(250));
    assert_eq!(milli("100u"), Some(1));
    assert_eq!(milli("-100u"), Some(-1));
    assert_eq!(milli("1n"), Some(1));
    assert_eq!(milli("2k"), Some(2_000_000));
    assert_eq!(milli("8E"), Some(i64::MAX), "saturates instead of wrapping");
}

#[test]
fn store_samples_become_milli_quantities() {
    let from = |v: f64| Quantity::from_f64(v).map(|q| q.to_string());
    assert_eq!(from(0.1 + 0.2), Ok("300m".into()), "float noise is dropped");
    assert_eq!(from(12.5), Ok("12500m".into()));
    assert_eq!(from(42.0), Ok("42".into()));
    assert_eq!(
        from(0.0004),
        Ok("1m".into()),
        "never reports less than the sample"
    );
    assert_eq!(from(-2.5), Ok("-2500m".into()));
    assert!(matches!(from(f64::NAN), Err(Error::QuantityValue { .. })));
    assert!(matches!(
        from(f64::INFINITY),
        Err(Error::QuantityValue { .. })
    ));
    assert!(matches!(from(1e20), Err(Error::QuantityValue { .. })));
}

#[test]
fn serde_reads_strings_and_numbers_and_writes_strings() -> serde_json::Result<()> {
    let q: Quantity = serde_json::from_str("\"250m\"")?;
    assert_eq!(q.milli_value(), 250);
    let q: Quantity = serde_json::from_str("5")?;
    assert_eq!(q.to_string(), "5");
    let q: Quantity = serde_json::from_str("1.5")?;
    assert_eq!(q.to_string(), "1500m");
    assert_eq!(
        serde_json::to_string(&Quantity::from_milli(1500))?,
        "\"1500m\""
    );
    assert!(serde_json::from_str::<Quantity>("\"1.5x\"").is_err());
    assert!(serde_json::from_str::<Quantity>("true").is_err());
    Ok(())
}

#[test]
fn compares_by_value_not_by_spelling() {
    let q = |s: &str| Quantity::parse(s).ok();
    assert_eq!(q("1k"), q("1000"));
    assert_eq!(q("1Ki"), q("1024"));
    assert!(q("1k") > q("999"));
    assert!(q("-1") < q("1m"));
}

fn any_quantity() -> impl Strategy<Value = Quantity> {
    let format = prop_oneof![
        Just(Format::DecimalSi),
        Just(Format::BinarySi),
        Just(Format::DecimalExponent)
    ];
    (-MAX_NANOS..=MAX_NANOS, format).prop_map(|(nanos, format)| Quantity { nanos, format })
}

proptest! {
    #[test]
    fn parsing_never_panics(input in "\\PC*") {
        let _ = Quantity::parse(&input);
    }

    #[test]
    fn parsing_quantity_like_text_never_panics(input in "[-+]?[0-9]{0,30}(\\.[0-9]{0,30})?([eE][-+]?[0-9]{0,6}|[KMGTPE]i|[numkMGTPE])?") {
        let _ = Quantity::parse(&input);
    }

    #[test]
    fn canonical_form_reads_back_to_the_same_value(q in any_quantity()) {
        let text = q.to_string();
        let back = Quantity::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, q, "{} did not read back", text);
        prop_assert_eq!(back.to_string(), text, "canonical form is not stable");
    }

    #[test]
    fn milli_quantities_print_without_fractions(milli in any::<i64>()) {
        let text = Quantity::from_milli(milli).to_string();
        prop_assert!(!text.contains('.'), "{}", text);
        prop_assert_eq!(Quantity::parse(&text).map(|q| q.milli_value()), Ok(milli));
    }
}

#[test]
fn division_rounds_away_from_zero_in_64_and_128_bits_alike() {
    // Reference: the 128-bit arithmetic alone, for values on both sides of the 64-bit fast path.
    let reference = |value: i128, divisor: i128| {
        let quotient = value / divisor;
        quotient + (value % divisor).signum()
    };
    let edge = i128::from(i64::MAX);
    for value in [
        0,
        1,
        -1,
        999_999,
        1_000_000,
        1_000_001,
        -1_000_001,
        edge,
        -edge,
        edge + 1,
        -edge - 2,
        edge * 1000 + 7,
    ] {
        assert_eq!(
            div_away_from_zero(value, NANOS_PER_MILLI),
            reference(value, NANOS_PER_MILLI),
            "{value}"
        );
    }
}
