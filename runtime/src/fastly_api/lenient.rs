//! Deserializers for the API's loose typing: older endpoints send numbers
//! and booleans as strings (`"port": "443"`, `"use_ssl": "1"`), and most
//! fields may be null.

use serde::{Deserialize, Deserializer};

/// A number the API sends as a number, a numeric string (older
/// endpoints: `"port": "443"`) or null.
#[derive(Deserialize)]
#[serde(untagged)]
enum Lenient {
    Number(u64),
    Bool(bool),
    Text(String),
}

fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Lenient>, D::Error> {
    Option::<Lenient>::deserialize(d)
}

pub(super) fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    match lenient(d)? {
        None => Ok(None),
        Some(Lenient::Number(n)) => Ok(Some(n)),
        Some(Lenient::Text(t)) if t.is_empty() => Ok(None),
        Some(Lenient::Text(t)) => t
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("{t:?} is not a number"))),
        Some(Lenient::Bool(b)) => Err(D::Error::custom(format!("{b} is not a number"))),
    }
}

pub(super) fn lenient_u32<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    use serde::de::Error;
    lenient_u64(d)?
        .map(|n| u32::try_from(n).map_err(|_| D::Error::custom(format!("{n} is out of range"))))
        .transpose()
}

pub(super) fn required_u32<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    use serde::de::Error;
    lenient_u32(d)?.ok_or_else(|| D::Error::custom("a number is required"))
}

pub(super) fn lenient_u16<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u16>, D::Error> {
    use serde::de::Error;
    lenient_u64(d)?
        .map(|n| {
            u16::try_from(n).map_err(|_| D::Error::custom(format!("port {n} is out of range")))
        })
        .transpose()
}

/// `true`/`false`, `1`/`0` or `"1"`/`"0"`/`"true"`/`"false"`; null is false.
pub(super) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    use serde::de::Error;
    match lenient(d)? {
        None => Ok(false),
        Some(Lenient::Bool(b)) => Ok(b),
        Some(Lenient::Number(n)) => Ok(n != 0),
        Some(Lenient::Text(t)) => match t.as_str() {
            "1" | "true" => Ok(true),
            "0" | "false" | "" => Ok(false),
            _ => Err(D::Error::custom(format!("{t:?} is not a boolean"))),
        },
    }
}

pub(super) fn string_or_null<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

pub(super) fn list_or_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}
