//! The answer the adapter reads on every request — an instant vector keyed by one label —
//! read straight from the bytes.
//!
//! serde_json spends about 3,300 instructions per element of such an answer (UTF-8 checks of
//! every string, the `metric` object kept as raw text and read again, a visitor per field):
//! two thirds of the adapter's own work per answer. This reader checks the body is UTF-8 once,
//! walks the bytes once and copies only the keys, into one string for all. It is strict and
//! has no errors of its own: anything but a well-formed UTF-8 successful vector whose key and
//! value strings have no escapes — an error envelope, a scalar, malformed JSON, a duplicate
//! field, an escape, a control character — makes it give up (`None`), and the serde reader
//! ([`super::instant_by`]) answers, with its own error when there is one. So whenever this
//! reader answers, it answers what serde would have (pinned by
//! a property test against it).

use jiff::Timestamp;

use crate::KeyedSamples;

/// The vector's elements keyed by `label`, read without serde; `None` to let serde decide.
pub(super) fn read(body: &[u8], label: &str) -> Option<KeyedSamples> {
    // Checked once, so every string in it is text without a check of its own.
    let text = std::str::from_utf8(body).ok()?;
    let mut cursor = Cursor {
        body,
        text,
        at: 0,
        last_time: None,
    };
    let (mut status, mut samples) = (None, None);
    cursor.object(|cursor, key| match key {
        // A field given twice is an error to serde: leave it to serde.
        b"status" => once(&mut status, cursor.string_bytes()?),
        b"data" => once(&mut samples, cursor.data(label)?),
        _ => cursor.skip_value(),
    })?;
    cursor.whitespace();
    (cursor.at == body.len() && status? == b"success").then_some(samples?)
}

/// The bytes a string's plain ASCII run may hold: not a quote, a backslash, a control
/// character or a byte above ASCII.
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut byte = 0x20;
    while byte < 0x80 {
        plain[byte] = byte != b'"' as usize && byte != b'\\' as usize;
        byte += 1;
    }
    plain
};

/// Sets `slot` to `value` if it is empty; `None` if it was not.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.is_none().then_some(())?;
    *slot = Some(value);
    Some(())
}

/// A position in the body.
struct Cursor<'a> {
    body: &'a [u8],
    /// The same body as text.
    text: &'a str,
    at: usize,
    /// The last sample's timestamp as written and as read: an instant vector's samples
    /// usually share one, read once.
    last_time: Option<(&'a [u8], Timestamp)>,
}

impl<'a> Cursor<'a> {
    fn whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.body.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, consumed.
    fn next(&mut self) -> Option<u8> {
        self.whitespace();
        let byte = *self.body.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    /// The next byte after whitespace, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.whitespace();
        self.body.get(self.at).copied()
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next()? == byte).then_some(())
    }

    /// A string without escapes or control characters, as its bytes (a string with either is
    /// left to serde).
    fn string_bytes(&mut self) -> Option<&'a [u8]> {
        let (start, end) = self.string_span()?;
        Some(&self.body[start..end])
    }

    /// A string, as [`Cursor::string_bytes`] reads it, as text.
    fn string(&mut self) -> Option<&'a str> {
        let (start, end) = self.string_span()?;
        self.text.get(start..end)
    }

    /// Where the string that comes next starts and ends, its quotes excluded. The body is
    /// UTF-8 (checked once), so a string between two quotes is too.
    fn string_span(&mut self) -> Option<(usize, usize)> {
        self.expect(b'"')?;
        let rest = &self.body[self.at..];
        // Plain ASCII, by far the common case, in one table lookup per byte.
        let plain = rest.iter().take_while(|&&b| PLAIN[usize::from(b)]).count();
        let length = match rest.get(plain)? {
            b'"' => plain,
            // A byte above ASCII: the string ends at the next quote, escape or control byte.
            128.. => {
                plain
                    + rest[plain..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?
            }
            _ => return None,
        };
        (rest[length] == b'"').then_some(())?;
        let start = self.at;
        self.at += length + 1;
        Some((start, start + length))
    }

    /// An object, each member's key handed to `member`, which reads the member's value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.expect(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.string_bytes()?;
            self.expect(b':')?;
            member(self, key)?;
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// An array, each element read by `element`.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(());
        }
        loop {
            element(self)?;
            match self.next()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A JSON number's text, checked against JSON's grammar (which Rust's `f64` parser is
    /// more lenient than).
    fn number(&mut self) -> Option<&'a [u8]> {
        self.whitespace();
        let start = self.at;
        let digits = |cursor: &mut Self| {
            let from = cursor.at;
            while cursor.body.get(cursor.at).is_some_and(u8::is_ascii_digit) {
                cursor.at += 1;
            }
            cursor.at > from
        };
        if self.body.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.body.get(self.at)? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                digits(self);
            }
            _ => return None,
        }
        if self.body.get(self.at) == Some(&b'.') {
            self.at += 1;
            digits(self).then_some(())?;
        }
        if let Some(b'e' | b'E') = self.body.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.body.get(self.at) {
                self.at += 1;
            }
            digits(self).then_some(())?;
        }
        Some(&self.body[start..self.at])
    }

    /// Any value, read and dropped; strings with escapes and deep nesting are left to serde.
    fn skip_value(&mut self) -> Option<()> {
        self.skip_nested(0)
    }

    fn skip_nested(&mut self, depth: usize) -> Option<()> {
        // serde_json refuses nesting deeper than 128; stop well before, without recursing far.
        if depth > 64 {
            return None;
        }
        match self.peek()? {
            b'"' => self.string_bytes().map(drop),
            b'{' => self.object(|cursor, _| cursor.skip_nested(depth + 1)),
            b'[' => self.array(|cursor| cursor.skip_nested(depth + 1)),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number().map(drop),
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.body[self.at..].starts_with(word).then_some(())?;
        self.at += word.len();
        Some(())
    }

    /// `data`: `resultType` `vector`, then its `result` (as both stores write them; the other
    /// order is left to serde, which refuses it for keyed samples).
    fn data(&mut self, label: &str) -> Option<KeyedSamples> {
        let (mut result_type, mut samples) = (None, None);
        self.object(|cursor, key| match key {
            b"resultType" => once(&mut result_type, cursor.string_bytes()?),
            // serde reads the samples only once it knows the type: left to it otherwise.
            b"result" if result_type.is_some() => once(&mut samples, cursor.elements(label)?),
            b"result" => None,
            _ => cursor.skip_value(),
        })?;
        (result_type? == b"vector").then_some(samples?)
    }

    /// The vector's elements: each read whole, kept when it has the label.
    fn elements(&mut self, label: &str) -> Option<KeyedSamples> {
        // An element takes some 50 bytes at least, its key a few: room for all without
        // growing, mostly.
        let room = (self.body.len() - self.at) / 64;
        let mut samples = KeyedSamples::with_capacity(room, room * 16);
        self.array(|cursor| {
            let start = cursor.at;
            let (key, (timestamp, value)) = match cursor.compact_element(label) {
                Some(element) => element,
                None => {
                    cursor.at = start;
                    cursor.element(label)?
                }
            };
            if let Some(key) = key {
                samples.push(key, timestamp, value);
            }
            Some(())
        })?;
        Some(samples)
    }

    /// An element written as both stores write it, `{"metric":{…},"value":[…]}` with no
    /// space, read without looking its fields up; `None` for anything else, which
    /// [`Cursor::element`] then reads from the same start.
    fn compact_element(&mut self, label: &str) -> Option<(Option<&'a str>, (Timestamp, f64))> {
        self.whitespace();
        self.literal(br#"{"metric":"#)?;
        let key = match self.only_label(label) {
            Some(value) => Some(value),
            None => self.label(label)?,
        };
        self.literal(br#","value":"#)?;
        let point = self.point()?;
        self.literal(b"}")?;
        Some((key, point))
    }

    /// An element whose fields come in any order, with any space and other fields.
    fn element(&mut self, label: &str) -> Option<(Option<&'a str>, (Timestamp, f64))> {
        let (mut key, mut value) = (None, None);
        self.object(|cursor, field| match field {
            b"metric" => once(&mut key, cursor.label(label)?),
            b"value" => once(&mut value, cursor.point()?),
            _ => cursor.skip_value(),
        })?;
        Some((key?, value?))
    }

    /// A `metric` object holding `label` alone, as `sum by (label)` answers
    /// (`{"pod":"web-1"}`), read without looking the name up; `None`, the cursor unmoved, for
    /// anything else, which [`Cursor::label`] then reads.
    fn only_label(&mut self, label: &str) -> Option<&'a str> {
        let rest = self.body.get(self.at..)?;
        let value = rest
            .strip_prefix(b"{\"")?
            .strip_prefix(label.as_bytes())?
            .strip_prefix(b"\":\"")?;
        let length = value.iter().take_while(|&&b| PLAIN[usize::from(b)]).count();
        value.get(length..)?.starts_with(b"\"}").then_some(())?;
        let start = self.body.len() - value.len();
        let text = self.text.get(start..start + length)?;
        self.at = start + length + 2;
        Some(text)
    }

    /// A `metric` object of string labels: the value of `label`, if it has it.
    fn label(&mut self, label: &str) -> Option<Option<&'a str>> {
        let mut found = None;
        let mut duplicate = false;
        self.object(|cursor, name| {
            let value = cursor.string()?;
            if name == label.as_bytes() {
                duplicate |= found.is_some();
                found = Some(value);
            }
            Some(())
        })?;
        (!duplicate).then_some(found)
    }

    /// A `[seconds, "value"]` pair, read as the serde reader reads it.
    fn point(&mut self) -> Option<(Timestamp, f64)> {
        self.expect(b'[')?;
        // The time written as the sample before's, followed by its comma, is that sample's
        // time, read without reading the number again.
        if let Some((last, timestamp)) = self.last_time
            && let Some(after) = self.body.get(self.at..)?.strip_prefix(last)
            && after.first() == Some(&b',')
        {
            self.at += last.len() + 1;
            return Some((timestamp, self.value_text()?));
        }
        let seconds = self.number()?;
        self.expect(b',')?;
        let value = self.value_text()?;
        let timestamp = match self.last_time {
            Some((last, timestamp)) if last == seconds => timestamp,
            _ => {
                let timestamp = match whole_millis(seconds) {
                    Some(millis) => Timestamp::from_millisecond(millis).ok()?,
                    // Read by serde_json's own number parser, which can round differently
                    // from Rust's.
                    None => super::timestamp(200, serde_json::from_slice(seconds).ok()?).ok()?,
                };
                self.last_time = Some((seconds, timestamp));
                timestamp
            }
        };
        Some((timestamp, value))
    }

    /// A point's `"value"]`, read as the serde reader reads it.
    fn value_text(&mut self) -> Option<f64> {
        let text = self.string()?;
        self.expect(b']')?;
        match plain_decimal(text) {
            Some(value) => Some(value),
            None => super::value(200, text).ok(),
        }
    }
}

/// Seconds written with at most three decimals and no sign or exponent (as both stores write
/// them), in milliseconds, counted exactly: what rounding the `f64` reading to the millisecond
/// gives, without reading an `f64`.
fn whole_millis(seconds: &[u8]) -> Option<i64> {
    let (whole, fraction) = match seconds.iter().position(|&b| b == b'.') {
        Some(dot) => (&seconds[..dot], &seconds[dot + 1..]),
        None => (seconds, &[][..]),
    };
    if whole.is_empty() || whole.len() > 12 || fraction.len() > 3 {
        return None;
    }
    let scale = [1000, 100, 10, 1][fraction.len()];
    Some(digits(whole)? * 1000 + digits(fraction)? * scale)
}

/// The number ASCII digits spell (at most 18 of them, so it fits).
fn digits(text: &[u8]) -> Option<i64> {
    (text.len() <= 18).then_some(())?;
    text.iter().try_fold(0i64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
    })
}

/// A value written as plain decimal digits (`12`, `-0.25`; at most 15 digits, no exponent),
/// read exactly as Rust's `f64` parser reads it: such a number is an integer below 2^53
/// divided by a power of ten up to 10^15, both exact in `f64`, and one correctly rounded
/// division gives the correctly rounded value. Anything else (`NaN`, `+Inf`, `1e3`, long
/// digit strings) is `None`, for the general parser.
fn plain_decimal(text: &str) -> Option<f64> {
    const POWERS: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let (negative, unsigned) = match text.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        bytes => (false, bytes),
    };
    let (whole, fraction) = match unsigned.iter().position(|&b| b == b'.') {
        Some(dot) => (&unsigned[..dot], &unsigned[dot + 1..]),
        None => (unsigned, &[][..]),
    };
    let has_dot = whole.len() < unsigned.len();
    if whole.is_empty() || (has_dot && fraction.is_empty()) || whole.len() + fraction.len() > 15 {
        return None;
    }
    let mantissa = digits(whole)? * POWERS[fraction.len()] as i64 + digits(fraction)?;
    // Below 10^15 < 2^53, so the conversion is exact.
    let magnitude = mantissa as f64 / POWERS[fraction.len()];
    Some(if negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests;
