//! Time as the core sees it: signed milliseconds since the Unix epoch.
//!
//! Integers keep window arithmetic exact and cheap. Flooring a finer timestamp to the
//! millisecond never changes which window it falls in, nor any `end <= watermark` test,
//! because every window bound and lateness is itself a whole number of milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Floor a timestamp to milliseconds (chrono's `timestamp_millis` floors, also before 1970).
pub fn to_millis(t: &DateTime<Utc>) -> Millis {
    t.timestamp_millis()
}

/// Convert milliseconds back to a timestamp, clamping to the range chrono can represent.
pub fn from_millis(ms: Millis) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// RFC 3339 in UTC with a `Z`, fractional seconds only when present.
pub fn format_rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parse RFC 3339 with any offset and convert to UTC.
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// The event time of a post (docs/ARCHITECTURE.md, "Windowing", rule 1): `created_at`, unless it is later than
/// `observed_at`, because clients' clocks run ahead and a future timestamp would push the
/// watermark past windows that are still receiving posts.
pub fn event_time(created_at: &DateTime<Utc>, observed_at: Option<&DateTime<Utc>>) -> Millis {
    match observed_at {
        Some(o) if o < created_at => to_millis(o),
        _ => to_millis(created_at),
    }
}

/// How far past the clock an event time may lie: a post dated later than this is invalid
/// (docs/ARCHITECTURE.md, "Windowing", rule 7), because no real post is written tomorrow
/// and a date far ahead would only serve to stall windows or the pacing of a recording.
pub const MAX_AHEAD: Millis = 24 * 3600 * 1000;

/// Whether an event time is more than [`MAX_AHEAD`] after `now` (the wall clock, or the
/// demo's simulated clock), which makes its post invalid.
pub fn too_far_ahead(event_time: Millis, now: Millis) -> bool {
    event_time > now.saturating_add(MAX_AHEAD)
}

/// Serde adapter for `DateTime<Utc>` fields: RFC 3339 in, RFC 3339 with `Z` out.
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{de, Deserialize, Deserializer, Serializer};
    use std::borrow::Cow;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_rfc3339(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = Cow::<'de, str>::deserialize(d)?;
        super::parse_rfc3339(&s)
            .map_err(|e| de::Error::custom(format_args!("invalid RFC 3339 timestamp {s:?}: {e}")))
    }

    /// The same for `Option<DateTime<Utc>>` fields.
    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => super::serialize(t, s),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            #[derive(Deserialize)]
            struct Wrap(#[serde(with = "super")] DateTime<Utc>);
            Ok(Option::<Wrap>::deserialize(d)?.map(|w| w.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_before_epoch() {
        let t = parse_rfc3339("1969-12-31T23:59:59.9995Z").unwrap();
        assert_eq!(to_millis(&t), -1);
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let t = parse_rfc3339("2020-09-25T20:00:00+02:00").unwrap();
        assert_eq!(format_rfc3339(&t), "2020-09-25T18:00:00Z");
    }

    #[test]
    fn more_than_a_day_ahead_is_too_far() {
        let now = 1_000_000;
        assert!(!too_far_ahead(now + MAX_AHEAD, now));
        assert!(too_far_ahead(now + MAX_AHEAD + 1, now));
        assert!(!too_far_ahead(Millis::MIN, now));
        assert!(!too_far_ahead(Millis::MAX, Millis::MAX));
    }

    #[test]
    fn event_time_takes_observed_when_created_is_ahead() {
        let c = parse_rfc3339("2020-09-25T18:00:05Z").unwrap();
        let o = parse_rfc3339("2020-09-25T18:00:01Z").unwrap();
        assert_eq!(event_time(&c, Some(&o)), to_millis(&o));
        assert_eq!(event_time(&o, Some(&c)), to_millis(&o));
        assert_eq!(event_time(&c, None), to_millis(&c));
    }
}
