//! Whole numbers in JSON bodies as JSON Schema counts them: `12` and `12.0` are both the
//! integer twelve (serde's integers refuse `12.0`, which clients and schema-driven tools may
//! send). For `#[serde(deserialize_with = "api::whole_number::optional")]` on an
//! `Option` of an integer type, and `required` on an integer.

use serde::Deserialize;
use serde::de::{Deserializer, Error};

/// A whole number of `T`'s range, or an error naming what was sent.
fn whole<T: TryFrom<i64>, E: Error>(number: &serde_json::Number) -> Result<T, E> {
    let whole = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    });
    whole
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| E::custom(format!("invalid value: {number}, expected a whole number in range")))
}

pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<Option<T>, D::Error> {
    Option::<serde_json::Number>::deserialize(deserializer)?
        .map(|n| whole(&n))
        .transpose()
}

pub fn required<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<T, D::Error> {
    whole(&serde_json::Number::deserialize(deserializer)?)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::optional")]
        count: Option<u8>,
    }

    fn count(json: &str) -> Result<Option<u8>, String> {
        serde_json::from_str::<Body>(json)
            .map(|b| b.count)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_whole_number_is_taken_written_either_way() {
        assert_eq!(count(r#"{"count": 12}"#), Ok(Some(12)));
        assert_eq!(count(r#"{"count": 12.0}"#), Ok(Some(12)));
        assert_eq!(count(r#"{"count": null}"#), Ok(None));
        assert_eq!(count("{}"), Ok(None));
    }

    #[test]
    fn fractions_numbers_out_of_range_and_other_types_are_refused() {
        for json in [
            r#"{"count": 1.5}"#,
            r#"{"count": 256}"#,
            r#"{"count": -1}"#,
            r#"{"count": "1"}"#,
            r#"{"count": 1e300}"#,
        ] {
            assert!(count(json).is_err(), "{json} was taken");
        }
    }
}
