//! Kubernetes quantities (`1500m`, `2k`, `1Mi`, `1e3`): parsed exactly, formatted canonically.
//!
//! A [`Quantity`] holds its value as a whole number of nano-units, the finest precision the
//! Kubernetes API keeps, so parsing and formatting never go through floating point. Formatting
//! follows `resource.Quantity.String()` of k8s.io/apimachinery: the largest suffix that keeps the
//! number whole, so `1.5` prints as `1500m` and `2000` as `2k`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

const NANOS_PER_UNIT: i128 = 1_000_000_000;
const NANOS_PER_MILLI: i128 = 1_000_000;
/// Kubernetes caps quantities at the largest `int64`; Sextant rejects larger ones instead.
const MAX_NANOS: i128 = i64::MAX as i128 * NANOS_PER_UNIT;
const DECIMAL_SUFFIXES: [(i32, &str); 10] = [
    (-9, "n"),
    (-6, "u"),
    (-3, "m"),
    (0, ""),
    (3, "k"),
    (6, "M"),
    (9, "G"),
    (12, "T"),
    (15, "P"),
    (18, "E"),
];
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// How a quantity was written, which decides how it is formatted back (as Kubernetes does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Decimal SI suffixes (`m`, `k`, `M`, …) or none.
    DecimalSi,
    /// Binary SI suffixes (`Ki`, `Mi`, …).
    BinarySi,
    /// A decimal exponent (`1e3`, `5E-3`).
    DecimalExponent,
}

/// An exact Kubernetes quantity, the type of `MetricValue.value` and of every metric target.
#[derive(Debug, Clone, Copy)]
pub struct Quantity {
    nanos: i128,
    format: Format,
}

/// Where a parsed number's digits sit: `digits × 10^exponent` or `digits × 1024^power`.
enum Scale {
    Decimal(i64),
    Binary(u32),
}

impl Quantity {
    /// Zero, the value Kubernetes prints as `"0"`.
    pub const ZERO: Quantity = Quantity {
        nanos: 0,
        format: Format::DecimalSi,
    };

    /// Parses a quantity string as the Kubernetes API does, rounding finer than `1n` away from
    /// zero; values beyond ±(2^63−1) are an error rather than being silently capped.
    pub fn parse(input: &str) -> Result<Self> {
        let err = |position: usize, reason: &'static str| Error::Quantity {
            input: input.to_owned(),
            position,
            reason,
        };
        let bytes = input.as_bytes();
        let mut pos = 0;
        let negative = match bytes.first() {
            None => return Err(err(0, "empty quantity")),
            Some(b'-') => true,
            Some(_) => false,
        };
        if matches!(bytes.first(), Some(b'-' | b'+')) {
            pos = 1;
        }
        let int_start = pos;
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let int_digits = &bytes[int_start..pos];
        let mut frac_digits: &[u8] = &[];
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            let frac_start = pos;
            while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            frac_digits = &bytes[frac_start..pos];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(err(int_start, "expected a number"));
        }
        let (format, scale) =
            parse_suffix(&bytes[pos..]).map_err(|(offset, reason)| err(pos + offset, reason))?;
        let magnitude = match scale {
            Scale::Decimal(exponent) => decimal_nanos(int_digits, frac_digits, exponent),
            Scale::Binary(power) => binary_nanos(int_digits, frac_digits, power),
        }
        .ok_or_else(|| err(0, "out of range: magnitude above 2^63-1"))?;
        let format = if format == Format::BinarySi && magnitude < NANOS_PER_UNIT {
            Format::DecimalSi
        } else {
            format
        };
        Ok(Quantity {
            nanos: if negative { -magnitude } else { magnitude },
            format,
        })
    }

    /// A decimal quantity of `milli` thousandths, the unit the HPA computes in.
    pub fn from_milli(milli: i64) -> Self {
        Quantity {
            nanos: i128::from(milli) * NANOS_PER_MILLI,
            format: Format::DecimalSi,
        }
    }

    /// A decimal quantity of whole units.
    pub fn from_units(units: i64) -> Self {
        Quantity {
            nanos: i128::from(units) * NANOS_PER_UNIT,
            format: Format::DecimalSi,
        }
    }

    /// Turns a store sample into a metric value with milli-unit precision, rounding up (away
    /// from zero) so the HPA, which reads values with `MilliValue()`, sees what it would have
    /// seen from the exact sample; floating-point noise below `1n` is dropped first.
    pub fn from_f64(value: f64) -> Result<Self> {
        let nanos = f64_to_nanos(value)?;
        Ok(Quantity {
            nanos: div_away_from_zero(nanos, NANOS_PER_MILLI) * NANOS_PER_MILLI,
            format: Format::DecimalSi,
        })
    }

    /// The value in thousandths, rounded away from zero, as `resource.Quantity.MilliValue()`.
    pub fn milli_value(&self) -> i64 {
        saturate_i64(div_away_from_zero(self.nanos, NANOS_PER_MILLI))
    }

    /// The value as a float, for charts and reports; decisions use [`Quantity::milli_value`].
    pub fn as_f64(&self) -> f64 {
        // Exact below 2^53 nanos; beyond that the float is as close as f64 gets.
        self.nanos as f64 / NANOS_PER_UNIT as f64
    }

    /// True when the value is zero, which the API prints as `"0"` whatever the format.
    pub fn is_zero(&self) -> bool {
        self.nanos == 0
    }

    /// How the quantity was written, which decides its canonical form.
    pub fn format(&self) -> Format {
        self.format
    }
}

/// Splits a suffix into its format and scale, or says at which offset it goes wrong.
fn parse_suffix(suffix: &[u8]) -> std::result::Result<(Format, Scale), (usize, &'static str)> {
    if let Some(&(exponent, _)) = DECIMAL_SUFFIXES
        .iter()
        .find(|(_, s)| s.as_bytes() == suffix)
    {
        return Ok((Format::DecimalSi, Scale::Decimal(i64::from(exponent))));
    }
    if let Some(power) = BINARY_SUFFIXES
        .iter()
        .skip(1)
        .position(|s| s.as_bytes() == suffix)
    {
        // `position` counts from Ki, which is 1024^1.
        return Ok((Format::BinarySi, Scale::Binary(power as u32 + 1)));
    }
    let Some((&(b'e' | b'E'), rest)) = suffix.split_first() else {
        return Err((
            0,
            "unknown suffix (expected one of n u m k M G T P E Ki Mi Gi Ti Pi Ei or an exponent)",
        ));
    };
    let (negative, digits) = match rest.split_first() {
        Some((b'-', digits)) => (true, digits),
        Some((b'+', digits)) => (false, digits),
        _ => (false, rest),
    };
    if digits.is_empty() {
        return Err((suffix.len(), "expected exponent digits"));
    }
    if let Some(bad) = digits.iter().position(|d| !d.is_ascii_digit()) {
        return Err((
            suffix.len() - digits.len() + bad,
            "expected a digit in the exponent",
        ));
    }
    // Exponents past ±10000 are clamped: such values are out of range or round to 1n anyway.
    let magnitude = digits
        .iter()
        .fold(0i64, |acc, d| (acc * 10 + i64::from(d - b'0')).min(10_000));
    Ok((
        Format::DecimalExponent,
        Scale::Decimal(if negative { -magnitude } else { magnitude }),
    ))
}

/// `0.<int><frac> × 10^(len(int) + exponent)` in nano-units, rounded away from zero.
fn decimal_nanos(int_digits: &[u8], frac_digits: &[u8], exponent: i64) -> Option<i128> {
    let digit_count = (int_digits.len() + frac_digits.len()) as i64;
    // Index into the digit string where the nano-unit point falls.
    let point = int_digits.len() as i64 + exponent + 9;
    let mut value: i128 = 0;
    let mut inexact = false;
    for (index, digit) in int_digits.iter().chain(frac_digits).enumerate() {
        let digit = i128::from(digit - b'0');
        if (index as i64) < point {
            value = value.checked_mul(10)?.checked_add(digit)?;
            if value > MAX_NANOS {
                return None;
            }
        } else if digit != 0 {
            inexact = true;
            break;
        }
    }
    if value != 0 {
        for _ in digit_count..point {
            value = value.checked_mul(10)?;
            if value > MAX_NANOS {
                return None;
            }
        }
    }
    let value = value + i128::from(inexact);
    (value <= MAX_NANOS).then_some(value)
}

/// `<int>.<frac> × 1024^power` in nano-units, rounded away from zero.
fn binary_nanos(int_digits: &[u8], frac_digits: &[u8], power: u32) -> Option<i128> {
    let trimmed = frac_digits.len() - frac_digits.iter().rev().take_while(|d| **d == b'0').count();
    let frac_digits = &frac_digits[..trimmed];
    let digits = int_digits
        .iter()
        .chain(frac_digits)
        .try_fold(0i128, |acc, d| {
            acc.checked_mul(10)?.checked_add(i128::from(d - b'0'))
        })?;
    let scaled = digits.checked_mul(1024i128.pow(power))?;
    let value = if frac_digits.len() <= 9 {
        scaled.checked_mul(10i128.pow(9 - frac_digits.len() as u32))?
    } else {
        match 10i128.checked_pow(frac_digits.len() as u32 - 9) {
            Some(divisor) => div_away_from_zero(scaled, divisor),
            // The divisor exceeds any i128 numerator: a non-zero value rounds up to 1n.
            None => i128::from(scaled != 0),
        }
    };
    (value <= MAX_NANOS).then_some(value)
}

fn f64_to_nanos(value: f64) -> Result<i128> {
    if !value.is_finite() {
        return Err(Error::QuantityValue {
            value,
            reason: "not a finite number",
        });
    }
    // `i64::MAX as f64` rounds up to 2^63, which is itself out of range.
    if value.abs() >= i64::MAX as f64 {
        return Err(Error::QuantityValue {
            value,
            reason: "magnitude above 2^63-1",
        });
    }
    let nanos = (value * NANOS_PER_UNIT as f64).round();
    // Converted in 64 bits when it fits (every value below 9 × 10⁹ does): the 128-bit
    // conversion is a library call. Both are exact for an integral float.
    if nanos.abs() < 9.0e18 {
        return Ok(i128::from(nanos as i64));
    }
    Ok(nanos as i128)
}

fn div_away_from_zero(value: i128, divisor: i128) -> i128 {
    // In 64 bits when both fit, as every value below 9.2 × 10⁹ does: 128-bit
    // division is a library call costing several times more.
    if let (Ok(value), Ok(divisor)) = (i64::try_from(value), i64::try_from(divisor)) {
        let quotient = value / divisor;
        return i128::from(match (value % divisor).cmp(&0) {
            Ordering::Greater => quotient + 1,
            Ordering::Less => quotient - 1,
            Ordering::Equal => quotient,
        });
    }
    let quotient = value / divisor;
    match (value % divisor).cmp(&0) {
        Ordering::Greater => quotient + 1,
        Ordering::Less => quotient - 1,
        Ordering::Equal => quotient,
    }
}

fn saturate_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

impl fmt::Display for Quantity {
    /// The canonical form of `resource.Quantity.String()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_canonical(f)
    }
}

/// Appends to a byte buffer (what a JSON writer holds) through `fmt::Write`.
struct Appending<'a>(&'a mut Vec<u8>);

impl fmt::Write for Appending<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

impl Quantity {
    /// Appends the canonical form as a JSON string (`"500m"`), the bytes serde writes for it,
    /// without serde's escaping pass (the form has no character JSON escapes): a list of
    /// metric values writes one per object.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        // Appending to a vector cannot fail.
        let _ = self.write_canonical(&mut Appending(out));
        out.push(b'"');
    }

    /// Writes the canonical form, its numbers by `itoa` (`core::fmt`'s machinery cost most of
    /// writing a list of values, a quantity per object).
    fn write_canonical(&self, f: &mut impl fmt::Write) -> fmt::Result {
        if self.nanos == 0 {
            return f.write_str("0");
        }
        let mut digits = itoa::Buffer::new();
        let whole_units = match i64::try_from(self.nanos) {
            Ok(small) => small % NANOS_PER_UNIT as i64 == 0,
            Err(_) => self.nanos % NANOS_PER_UNIT == 0,
        };
        if self.format == Format::BinarySi
            && whole_units
            && self.nanos.abs() >= 1024 * NANOS_PER_UNIT
        {
            let mut units = self.nanos / NANOS_PER_UNIT;
            let mut power = 0;
            while units % 1024 == 0 && power < BINARY_SUFFIXES.len() - 1 {
                units /= 1024;
                power += 1;
            }
            f.write_str(digits.format(units))?;
            return f.write_str(BINARY_SUFFIXES[power]);
        }
        let (mantissa, exponent) = strip_thousands(self.nanos);
        // In 64 bits when it fits, as every metric value below 9.2 × 10⁹ does.
        f.write_str(match i64::try_from(mantissa) {
            Ok(small) => digits.format(small),
            Err(_) => digits.format(mantissa),
        })?;
        let suffix = match self.format {
            Format::DecimalExponent if exponent == 0 => Some(""),
            Format::DecimalExponent => None,
            _ => DECIMAL_SUFFIXES
                .iter()
                .find(|(e, _)| *e == exponent)
                .map(|(_, suffix)| *suffix),
        };
        match suffix {
            Some(suffix) => f.write_str(suffix),
            None => {
                f.write_str("e")?;
                f.write_str(digits.format(exponent))
            }
        }
    }
}

/// The largest exponent that is a multiple of 3 and keeps the mantissa of `nanos` whole, with
/// that mantissa (zero is `0e0`): thousands stripped (a third of the divisions of stripping single
/// zeros), in `i64` while the number fits, as every metric value below 9.2 × 10⁹ does; `i128`
/// division costs several times more.
fn strip_thousands(nanos: i128) -> (i128, i32) {
    if nanos == 0 {
        return (0, 0);
    }
    let mut exponent = -9;
    if let Ok(mut small) = i64::try_from(nanos) {
        while small % 1000 == 0 {
            small /= 1000;
            exponent += 3;
        }
        return (i128::from(small), exponent);
    }
    let mut mantissa = nanos;
    while mantissa % 1000 == 0 {
        mantissa /= 1000;
        exponent += 3;
    }
    (mantissa, exponent)
}

impl FromStr for Quantity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Quantity::parse(s)
    }
}

impl PartialEq for Quantity {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}

impl Eq for Quantity {}

impl Hash for Quantity {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Quantity {
    fn cmp(&self, other: &Self) -> Ordering {
        self.nanos.cmp(&other.nanos)
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// Accepts a quantity string, or a JSON number as the Kubernetes API does.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire<'a> {
            Text(Cow<'a, str>),
            Integer(i64),
            Float(f64),
        }
        let text = match Wire::deserialize(deserializer)? {
            Wire::Text(text) => text,
            Wire::Integer(value) => return Ok(Quantity::from_units(value)),
            // Rust prints the shortest decimal that reads back as the same float: the JSON text.
            Wire::Float(value) => Cow::Owned(value.to_string()),
        };
        Quantity::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "x-kubernetes-int-or-string": true,
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
        })
    }
}

#[cfg(test)]
mod tests;
