//! The keys a table accepts, read from its serde type: what documentation
//! must describe, taken from the definition the parser uses.

use std::cell::Cell;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// The keys of the table that `T` reads (after `rename_all`), in the
/// order its fields are declared; empty if `T` is not a struct with named
/// fields. A derived `Deserialize` names its fields when it asks for a
/// struct, and that list is what `deny_unknown_fields` accepts.
pub fn table_keys<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let keys = Cell::new(&[][..]);
    let _ = T::deserialize(Probe(&keys));
    keys.get()
}

/// A deserializer that holds no value: it notes the field names a struct
/// asks for and refuses everything.
struct Probe<'a>(&'a Cell<&'static [&'static str]>);

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("a probe holds no value"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(fields);
        Err(de::Error::custom("a probe holds no value"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code, reason = "only the field names are read")]
    struct Table {
        name: String,
        only_with_members: Option<bool>,
    }

    #[test]
    fn keys_are_the_fields_as_written_in_the_file() {
        assert_eq!(table_keys::<Table>(), ["name", "only-with-members"]);
        assert!(table_keys::<String>().is_empty());
    }
}
