//! An instant vector reduced to one label per element — the object's name — as answering per
//! object needs it. The names are kept one after the other in one string instead of a string
//! each: an answer of a hundred pods is held in two allocations, not a hundred and one.

use jiff::Timestamp;

/// The elements of an instant vector, each reduced to the value of one of its labels (the
/// object's name), in the store's order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyedSamples {
    /// Every element's key, one after the other.
    keys: String,
    points: Vec<Point>,
}

/// One element without its key: where the key ends in `keys` (it starts where the one before
/// ended), the time and the value.
#[derive(Debug, Clone, PartialEq)]
struct Point {
    key_end: usize,
    timestamp: Timestamp,
    value: f64,
}

/// One element of [`KeyedSamples`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyedSample<'a> {
    /// The value of the label the query was keyed by (the object's name).
    pub key: &'a str,
    /// The sample's own time (for an instant query, the evaluation time).
    pub timestamp: Timestamp,
    /// The value; may be NaN or infinite, as the store computed it.
    pub value: f64,
}

impl KeyedSamples {
    /// Room for `samples` elements whose keys take `key_bytes` in all, so reading an answer
    /// does not grow them.
    pub fn with_capacity(samples: usize, key_bytes: usize) -> Self {
        KeyedSamples {
            keys: String::with_capacity(key_bytes),
            points: Vec::with_capacity(samples),
        }
    }

    /// Appends an element.
    pub fn push(&mut self, key: &str, timestamp: Timestamp, value: f64) {
        self.keys.push_str(key);
        self.points.push(Point {
            key_end: self.keys.len(),
            timestamp,
            value,
        });
    }

    /// How many elements there are.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// How many bytes the keys take in all.
    pub fn key_bytes(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The element at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<KeyedSample<'_>> {
        let point = self.points.get(index)?;
        let start = match index {
            0 => 0,
            _ => self.points.get(index - 1)?.key_end,
        };
        Some(KeyedSample {
            key: self.keys.get(start..point.key_end)?,
            timestamp: point.timestamp,
            value: point.value,
        })
    }

    /// The elements in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = KeyedSample<'_>> + Clone + '_ {
        let mut start = 0;
        self.points.iter().map(move |point| {
            // Every end was a char boundary when it was pushed.
            let key = self.keys.get(start..point.key_end).unwrap_or_default();
            start = point.key_end;
            KeyedSample {
                key,
                timestamp: point.timestamp,
                value: point.value,
            }
        })
    }
}

impl<'a> FromIterator<KeyedSample<'a>> for KeyedSamples {
    fn from_iter<I: IntoIterator<Item = KeyedSample<'a>>>(samples: I) -> Self {
        let mut keyed = KeyedSamples::default();
        for sample in samples {
            keyed.push(sample.key, sample.timestamp, sample.value);
        }
        keyed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keeps_each_key_with_its_sample_in_order() {
        let at = Timestamp::from_second(1_795_000_000).unwrap();
        let mut samples = KeyedSamples::with_capacity(1, 1);
        for (key, value) in [
            ("web-1", 1.5),
            ("", 2.0),
            ("café-☕", f64::INFINITY),
            ("b", -0.0),
        ] {
            samples.push(key, at, value);
        }
        let read: Vec<(&str, f64)> = samples.iter().map(|s| (s.key, s.value)).collect();
        assert_eq!(
            read,
            [
                ("web-1", 1.5),
                ("", 2.0),
                ("café-☕", f64::INFINITY),
                ("b", -0.0)
            ]
        );
        assert_eq!(samples.len(), 4);
        assert_eq!(samples.key_bytes(), "web-1café-☕b".len());
        assert_eq!(samples.iter().len(), 4);
        assert_eq!(samples.get(2).map(|s| s.key), Some("café-☕"));
        assert_eq!(samples.get(1).map(|s| s.key), Some(""));
        assert_eq!(samples.get(4), None);
        assert!(samples.iter().all(|s| s.timestamp == at));
        let copied: KeyedSamples = samples.iter().collect();
        assert_eq!(copied, samples);
        assert!(KeyedSamples::default().is_empty());
    }
}
