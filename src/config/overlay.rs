//! One configuration file read over the configuration so far. The keys the file sets are
//! deserialized from its own text, so toml reports a bad key or value with the file's
//! line and a snippet; the keys it leaves out are taken from the configuration so far.
//! A section the file sets (`[integrator]`) is read over that section the same way.

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};
use serde::Deserialize;
use std::fmt;
use toml::{Table, Value};

/// `T` from the TOML document `text`, with every key `text` does not set taken from `base`.
pub(super) fn overlay<T: DeserializeOwned>(text: &str, base: &Table) -> Result<T, toml::de::Error> {
    T::deserialize(Over { inner: toml::Deserializer::new(text), base })
}

/// A deserializer of a table (a document or a section) read over `base`.
struct Over<'b, D> {
    inner: D,
    base: &'b Table,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Over<'_, D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner.deserialize_struct(name, fields, TableVisitor { inner: visitor, base: self.base })
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_any(TableVisitor { inner: visitor, base: self.base })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

/// Hands the section's visitor the file's keys and then the inherited ones. Anything but
/// a table goes to that visitor unchanged, so a wrong type reads as it always has.
struct TableVisitor<'b, V> {
    inner: V,
    base: &'b Table,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for TableVisitor<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let inherited = self.base.iter();
        let entries = Entries { map, file_done: false, base: self.base, set: Vec::new(), inherited, pending: None };
        self.inner.visit_map(entries)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(seq)
    }
}

/// The entries of one table: the file's own, then those of `base` the file did not set.
struct Entries<'b, A> {
    map: A,
    file_done: bool,
    base: &'b Table,
    /// The keys the file set, in order; the last one is the entry being read.
    set: Vec<String>,
    inherited: toml::map::Iter<'b>,
    /// The value of the inherited key just handed out.
    pending: Option<&'b Value>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Entries<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        let mut slot = Some(seed);
        if !self.file_done {
            if let Some(key) = self.map.next_key_seed(Noted { slot: &mut slot, set: &mut self.set })? {
                return Ok(Some(key));
            }
            self.file_done = true;
        }
        // A map with no key left does not use the seed: it is still in the slot.
        let Some(seed) = slot else {
            return Ok(None);
        };
        let set = &self.set;
        let Some((key, value)) = self.inherited.find(|(k, _)| !set.contains(k)) else {
            return Ok(None);
        };
        self.pending = Some(value);
        seed.deserialize(IntoDeserializer::<A::Error>::into_deserializer(key.as_str())).map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        if let Some(value) = self.pending.take() {
            // It was read from a valid configuration: it reads back.
            return seed.deserialize(value.clone()).map_err(de::Error::custom);
        }
        match self.set.last().and_then(|k| self.base.get(k)) {
            Some(Value::Table(base)) => self.map.next_value_seed(Section { seed, base }),
            _ => self.map.next_value_seed(seed),
        }
    }
}

/// A key seed that notes the key before the section's own seed reads it, so an unknown
/// key is still reported by toml where it stands in the file.
struct Noted<'s, K> {
    slot: &'s mut Option<K>,
    set: &'s mut Vec<String>,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for Noted<'_, K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<K::Value, D::Error> {
        let key = String::deserialize(deserializer)?;
        self.set.push(key.clone());
        let seed = self.slot.take().expect("a key seed is used once");
        seed.deserialize(IntoDeserializer::<D::Error>::into_deserializer(key))
    }
}

/// The value of a section the file sets, read over that section of the base.
struct Section<'b, S> {
    seed: S,
    base: &'b Table,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Section<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Over { inner: deserializer, base: self.base })
    }
}
