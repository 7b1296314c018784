//! An ingest body read into its posts, with bounds on what one request can cost: at most
//! `max_posts` posts are parsed (the count is checked while parsing, so a body of a
//! million tiny items is refused before they are all held), and a 400 lists at most
//! [`MAX_LISTED_PROBLEMS`] problems. Without them a 1 MiB body `[1,1,…]` earned a 32 MB
//! answer and seconds of CPU.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{json, Value};

/// Problems listed in one 400 answer; the rest are only counted.
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// What a body holds.
#[derive(Debug)]
pub enum Body {
    /// The posts' JSON values (one for a single Post object), not yet checked.
    Items(Vec<Value>),
    /// An array of more than the allowed number of items.
    TooMany,
    /// JSON, but neither an object nor an array.
    Neither,
    /// Not JSON.
    NotJson(serde_json::Error),
}

/// Parse `body`, stopping at the `max + 1`-th item of an array.
pub fn read(body: &[u8], max: usize) -> Body {
    let too_many = Cell::new(false);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Items {
        max,
        too_many: &too_many,
    }
    .deserialize(&mut de)
    .and_then(|items| de.end().map(|()| items));
    match parsed {
        Ok(Some(items)) => Body::Items(items),
        Ok(None) => Body::Neither,
        Err(_) if too_many.get() => Body::TooMany,
        Err(e) => Body::NotJson(e),
    }
}

/// `Some(items)` for an object or an array, `None` for any other JSON value.
struct Items<'a> {
    max: usize,
    too_many: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for Items<'_> {
    type Value = Option<Vec<Value>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Items<'_> {
    type Value = Option<Vec<Value>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Post object or a JSON array of Posts")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
        while let Some(item) = seq.next_element::<Value>()? {
            if items.len() == self.max {
                self.too_many.set(true);
                return Err(de::Error::custom("too many posts"));
            }
            items.push(item);
        }
        Ok(Some(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let one = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Some(vec![one]))
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// The invalid posts of one request: the first [`MAX_LISTED_PROBLEMS`] with their reasons,
/// the others counted.
#[derive(Debug, Default)]
pub struct Problems {
    listed: Vec<Value>,
    total: usize,
}

impl Problems {
    pub fn add(&mut self, index: usize, problem: &str) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED_PROBLEMS {
            self.listed
                .push(json!({ "index": index, "error": problem }));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The 400 answer's body for a request of `posts` items.
    pub fn answer(self, posts: usize) -> Value {
        let unlisted = self.total - self.listed.len();
        let mut error = format!(
            "{} of {posts} posts are invalid; none was accepted",
            self.total
        );
        if unlisted > 0 {
            error.push_str(&format!(
                "; the first {} problems are listed, {unlisted} more are not",
                self.listed.len()
            ));
        }
        json!({ "error": error, "problems": self.listed, "unlisted_problems": unlisted })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_arrays_are_posts_and_other_json_is_not() {
        assert!(matches!(read(br#"{"id":"a"}"#, 10), Body::Items(v) if v == [json!({"id":"a"})]));
        assert!(matches!(read(b" [1, {}, \"x\"] ", 10), Body::Items(v) if v.len() == 3));
        assert!(matches!(read(b"[]", 10), Body::Items(v) if v.is_empty()));
        for neither in ["42", "-1", "1.5", "true", "null", "\"post\""] {
            assert!(
                matches!(read(neither.as_bytes(), 10), Body::Neither),
                "{neither}"
            );
        }
        for broken in ["", "[1,", "{\"id\": ", "[1] [2]", "{} x"] {
            assert!(
                matches!(read(broken.as_bytes(), 10), Body::NotJson(_)),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn an_array_over_the_limit_is_refused_at_the_first_item_too_many() {
        assert!(matches!(read(b"[1,2,3]", 3), Body::Items(v) if v.len() == 3));
        assert!(matches!(read(b"[1,2,3,4]", 3), Body::TooMany));
        // Even when the rest would not parse: nothing past the limit is looked at.
        assert!(matches!(read(b"[1,2,3,4,oops", 3), Body::TooMany));
    }

    #[test]
    fn at_most_a_hundred_problems_are_listed_and_the_rest_counted() {
        let mut p = Problems::default();
        for i in 0..250 {
            p.add(i, "expected a Post object, got a number");
        }
        let answer = p.answer(250);
        assert_eq!(
            answer["problems"].as_array().unwrap().len(),
            MAX_LISTED_PROBLEMS
        );
        assert_eq!(answer["problems"][99]["index"], 99);
        assert_eq!(answer["unlisted_problems"], 150);
        assert_eq!(
            answer["error"],
            "250 of 250 posts are invalid; none was accepted; the first 100 problems are listed, 150 more are not"
        );
    }
}
