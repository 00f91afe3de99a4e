//! Money as the API carries it: amounts in minor units (cents) of a currency the shop sells in.

use serde::{Deserialize, Serialize};

/// A currency the shop sells in (ISO 4217).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub const ACCEPTED: [&'static str; 4] = ["EUR", "USD", "GBP", "CHF"];

    pub fn parse(raw: &str) -> Result<Self, String> {
        let upper = raw.trim().to_ascii_uppercase();
        if Self::ACCEPTED.contains(&upper.as_str()) {
            let bytes = upper.as_bytes();
            Ok(Self([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(format!("Use one of {}.", Self::ACCEPTED.join(", ")))
        }
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("currencies are ASCII")
    }
}

/// One of `ACCEPTED` (as the serde impls above read and write it).
impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let mut schema = crate::schema::one_of(Self::ACCEPTED);
        schema.description = Some("An ISO 4217 currency the shop sells in.".to_owned());
        schema.into()
    }
}

impl utoipa::ToSchema for Currency {}

impl TryFrom<String> for Currency {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> Self {
        c.as_str().to_owned()
    }
}
