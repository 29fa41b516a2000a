//! A `custom.metrics.k8s.io/v1beta2` `MetricValueList` written as JSON straight from its
//! [`ValueShape`] and rows, byte for byte what serde writes for the full list.
//!
//! Every item of one answer has the same kind, namespace, metric, selector and window; only
//! the object's name, the timestamp and the value differ. So one item is written by serde with
//! a marker for the name, the text is cut at the name, timestamp and value into a template,
//! and each row is written as the template's pieces with its own three values between them
//! (each still written by serde, so escaping and formats are serde's; a timestamp equal to the
//! row before's, as in an instant query's answer, is copied). When the template cannot be cut
//! unambiguously, the whole list is written by serde. Templates of recent shapes without a
//! metric selector are kept, so the cutting is done once per shape. This takes a fraction of the time
//! of building the items and serializing them (see the `answer` bench of `metrics-adapter`);
//! `tests.rs` checks the bytes against serde's over random answers.

use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use super::custom_metrics::v1beta2::{
    MetricIdentifier, MetricValue, MetricValueList, MetricValueRow, MetricValueRows, ValueShape,
};

/// The marker name: control characters no object name has, escaped by serde as `\u0001`.
const NAME_MARKER: &str = "\u{1}\u{2}sextant-name\u{2}\u{1}";

/// `rows` as serde_json writes the list they stand for
/// (`serde_json::to_vec(&MetricValueList::from(rows))`).
pub fn to_vec(rows: &MetricValueRows) -> serde_json::Result<Vec<u8>> {
    write(&rows.shape, rows.rows())
}

/// The list of `shape`'s items with `rows` (walked twice: for the first row, then all), as
/// serde_json writes it (`serde_json::to_vec(&shape.list(rows))`): the rows need not be
/// gathered first.
pub fn write<'a, I>(shape: &ValueShape, rows: I) -> serde_json::Result<Vec<u8>>
where
    I: Iterator<Item = MetricValueRow<'a>> + Clone,
{
    // Room for the rows there can be (an item is about 200 bytes), up to RESERVED_ROWS: rows
    // filtered from a bigger answer (a selection out of a whole namespace) reserve no more.
    let (fewest, most) = rows.size_hint();
    let reserved = most.unwrap_or(fewest).min(RESERVED_ROWS);
    let mut out = Vec::with_capacity(256 + 256 * reserved);
    out.extend_from_slice(envelope());
    // The envelope ends with its empty items, `[]}`: the items go between the brackets.
    let (Some(first), true) = (rows.clone().next(), out.ends_with(b"[]}")) else {
        return serde_json::to_vec(&shape.list(rows));
    };
    let Some(template) = template(shape, first)? else {
        return serde_json::to_vec(&shape.list(rows));
    };
    out.truncate(out.len() - 2);
    // Between two rows: the end of one item, the comma and the start of the next, in one.
    let between = [&template.pieces[3][..], b",", &template.pieces[0]].concat();
    // A timestamp as written and the piece after it, for the rows that share it.
    let mut last_time: Option<(Time, Vec<u8>)> = None;
    for (index, row) in rows.enumerate() {
        out.extend_from_slice(if index == 0 {
            &template.pieces[0]
        } else {
            &between
        });
        write_str(&mut out, row.name)?;
        out.extend_from_slice(&template.pieces[1]);
        match &last_time {
            Some((time, text)) if *time == row.timestamp => out.extend_from_slice(text),
            _ => {
                let mut text = serde_json::to_vec(&WireTime(&row.timestamp))?;
                text.extend_from_slice(&template.pieces[2]);
                out.extend_from_slice(&text);
                last_time = Some((row.timestamp, text));
            }
        }
        row.value.write_json(&mut out);
    }
    out.extend_from_slice(&template.pieces[3]);
    out.extend_from_slice(b"]}");
    Ok(out)
}

/// The most rows the list's buffer is sized for up front; a bigger list grows it.
const RESERVED_ROWS: usize = 1_024;

/// The list without items as serde writes it (`{…,"items":[]}`), written once; empty if
/// serde could not write it, which sends every answer through serde.
fn envelope() -> &'static [u8] {
    static ENVELOPE: OnceLock<Vec<u8>> = OnceLock::new();
    ENVELOPE.get_or_init(|| serde_json::to_vec(&MetricValueList::default()).unwrap_or_default())
}

/// How many answer shapes' templates are kept.
const TEMPLATES_KEPT: usize = 64;

/// The templates of the shapes answered lately, so a template is cut once per shape (objects'
/// kind and namespace, metric, window), not once per answer. Only shapes without a metric
/// selector are kept: nothing else in their text reads like a name, a timestamp or a value, so
/// their pieces are the same whatever the rows.
static TEMPLATES: Mutex<Vec<(Shape, Arc<Template>)>> = Mutex::new(Vec::new());

/// What an answer's template depends on.
struct Shape {
    object: ObjectReference,
    metric: MetricIdentifier,
    window_seconds: Option<i64>,
}

/// The template of an answer of `shape` whose first row is `first`: kept from an answer of
/// the same shape, or cut now (and kept); `None` when it cannot be cut.
fn template(
    shape: &ValueShape,
    first: MetricValueRow<'_>,
) -> serde_json::Result<Option<Arc<Template>>> {
    let keep = shape.metric.selector.is_none();
    let same = |kept: &Shape| {
        kept.window_seconds == shape.window_seconds
            && kept.metric == shape.metric
            && kept.object == shape.object
    };
    if keep
        && let Ok(kept) = TEMPLATES.lock()
        && let Some((_, template)) = kept.iter().find(|(shape, _)| same(shape))
    {
        return Ok(Some(Arc::clone(template)));
    }
    let Some(template) = Template::of(&shape.item(first))? else {
        return Ok(None);
    };
    let template = Arc::new(template);
    if keep && let Ok(mut kept) = TEMPLATES.lock() {
        if kept.len() >= TEMPLATES_KEPT {
            kept.remove(0);
        }
        kept.push((
            Shape {
                object: shape.object.clone(),
                metric: shape.metric.clone(),
                window_seconds: shape.window_seconds,
            },
            Arc::clone(&template),
        ));
    }
    Ok(Some(template))
}

/// `text` as a JSON string, as serde_json writes it: quoted as it is when nothing in it needs
/// an escape (object names never do), through serde_json otherwise.
fn write_str(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    if text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return serde_json::to_writer(out, text);
    }
    out.push(b'"');
    out.extend_from_slice(text.as_bytes());
    out.push(b'"');
    Ok(())
}

/// The text of an item cut around its name, timestamp and value: each is written between two
/// pieces (`[before name, before timestamp, before value, after value]`).
struct Template {
    pieces: [Vec<u8>; 4],
}

/// Writes a `Time` as the wire types do, for one field.
struct WireTime<'a>(&'a Time);

impl Serialize for WireTime<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        super::serialize_time(self.0, serializer)
    }
}

impl Template {
    /// The template of `item`'s shape; `None` when its text cannot be cut unambiguously: a
    /// marker's text found twice, as when the metric's selector has a label `value` whose
    /// value is the item's (`"value":"2"` in `matchLabels` and as the item's value).
    fn of(item: &MetricValue) -> serde_json::Result<Option<Template>> {
        let mut probe = item.clone();
        probe.described_object.name = Some(NAME_MARKER.to_owned());
        let text = serde_json::to_vec(&probe)?;
        let name = serde_json::to_vec(NAME_MARKER)?;
        let time = [
            b"\"timestamp\":".as_slice(),
            &serde_json::to_vec(&WireTime(&item.timestamp))?,
        ]
        .concat();
        let value = [b"\"value\":".as_slice(), &serde_json::to_vec(&item.value)?].concat();
        let (Some(name_at), Some(time_at), Some(value_at)) = (
            unique(&text, &name),
            unique(&text, &time),
            unique(&text, &value),
        ) else {
            return Ok(None);
        };
        let time_value_at = time_at + b"\"timestamp\":".len();
        let value_value_at = value_at + b"\"value\":".len();
        if !(name_at + name.len() <= time_at && time_value_at < value_at) {
            return Ok(None);
        }
        Ok(Some(Template {
            pieces: [
                text[..name_at].to_vec(),
                text[name_at + name.len()..time_value_at].to_vec(),
                text[time.len() + time_at..value_value_at].to_vec(),
                text[value_at + value.len()..].to_vec(),
            ],
        }))
    }
}

/// Where `needle` starts in `text`, if it occurs exactly once.
fn unique(text: &[u8], needle: &[u8]) -> Option<usize> {
    let lead = *needle.first()?;
    // Windows are compared whole only where the first byte matches (a few, not every one).
    let mut found = text
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| window[0] == lead && *window == needle)
        .map(|(at, _)| at);
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests;
