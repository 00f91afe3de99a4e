//! Checking out: the contact and delivery details a checkout takes (and the countries and
//! postal codes it accepts), the request that starts one, and how a checkout stands.

use chrono::{DateTime, Utc};
use contracts::OrderStatus;
use contracts::events::OrderLine;
use saga_core::{InstanceState, StepState};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Currency;

/// A country we ship to and the shapes its postal codes take (`9` a digit, `A` a letter,
/// anything else itself).
pub struct ShippingCountry {
    pub code: &'static str,
    pub name: &'static str,
    /// `9` a digit, `A` a letter, anything else itself; none: the country has rules of its own.
    pub postal_formats: &'static [&'static str],
}

pub const SHIPPING_COUNTRIES: &[ShippingCountry] = &[
    country("AT", "Austria", &["9999"]),
    country("BE", "Belgium", &["9999"]),
    country("CA", "Canada", &["A9A 9A9", "A9A9A9"]),
    country("CH", "Switzerland", &["9999"]),
    country("DE", "Germany", &["99999"]),
    country("DK", "Denmark", &["9999"]),
    country("ES", "Spain", &["99999"]),
    country("FI", "Finland", &["99999"]),
    country("FR", "France", &["99999"]),
    country("GB", "United Kingdom", &[]),
    country(
        "IE",
        "Ireland",
        &["A99 A9A9", "A99 A999", "A99 AA99", "A99 A99A", "AA9 A9A9", "A9W A9A9"],
    ),
    country("IT", "Italy", &["99999"]),
    country("NL", "Netherlands", &["9999 AA", "9999AA"]),
    country("NO", "Norway", &["9999"]),
    country("PL", "Poland", &["99-999"]),
    country("PT", "Portugal", &["9999-999"]),
    country("SE", "Sweden", &["999 99", "99999"]),
    country("US", "United States", &["99999", "99999-9999"]),
];

const fn country(code: &'static str, name: &'static str, postal_formats: &'static [&'static str]) -> ShippingCountry {
    ShippingCountry {
        code,
        name,
        postal_formats,
    }
}

impl ShippingCountry {
    pub fn find(code: &str) -> Option<&'static ShippingCountry> {
        SHIPPING_COUNTRIES
            .iter()
            .find(|c| c.code.eq_ignore_ascii_case(code.trim()))
    }

    /// The postal code in its usual writing, or `None` when it has no valid shape here.
    pub fn normalise_postal_code(&self, raw: &str) -> Option<String> {
        let code = raw
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_ascii_uppercase();
        if self.code == "GB" {
            return uk_postcode(&code);
        }
        self.postal_formats
            .iter()
            .any(|format| fits(&code, format))
            .then_some(code)
    }

    /// A postal code of the country's shape, for messages.
    pub fn postal_example(&self) -> String {
        match self.postal_formats.first() {
            Some(format) => format.replace('9', "1").replace('A', "B"),
            None => "SW1A 1AA".into(),
        }
    }
}

fn fits(code: &str, format: &str) -> bool {
    code.len() == format.len()
        && code.chars().zip(format.chars()).all(|(c, f)| match f {
            '9' => c.is_ascii_digit(),
            'A' => c.is_ascii_uppercase(),
            _ => c == f,
        })
}

/// UK postcodes: an outward code of 2 to 4 characters starting with a letter, then a digit
/// and two letters.
fn uk_postcode(code: &str) -> Option<String> {
    let compact: String = code.chars().filter(|c| *c != ' ').collect();
    let (outward, inward) = compact.split_at_checked(compact.len().checked_sub(3)?)?;
    let inward_ok = fits(inward, "9AA");
    let outward_ok = (2..=4).contains(&outward.len())
        && outward.starts_with(|c: char| c.is_ascii_uppercase())
        && outward.chars().all(|c| c.is_ascii_alphanumeric())
        && outward.chars().any(|c| c.is_ascii_digit());
    (inward_ok && outward_ok).then(|| format!("{outward} {inward}"))
}

/// The details as sent; every field may be missing or wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Details)]
pub struct DetailsForm {
    #[schema(required = true)]
    #[serde(default)]
    pub contact: ContactForm,
    #[schema(required = true)]
    #[serde(default)]
    pub delivery: DeliveryForm,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ContactDetails)]
pub struct ContactForm {
    #[schema(
        required = true,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    #[serde(default)]
    pub name: String,
    #[schema(
        required = true,
        max_length = 254,
        pattern = "^\\s*[^\\s@\\u0000-\\u001f\\u007f-\\u009f]{1,64}@[^\\s@.\\u0000-\\u001f\\u007f-\\u009f][^\\s@\\u0000-\\u001f\\u007f-\\u009f]*\\.[^\\s@\\u0000-\\u001f\\u007f-\\u009f]*[^\\s@.\\u0000-\\u001f\\u007f-\\u009f]\\s*$"
    )]
    #[serde(default)]
    pub email: String,
    /// 6 to 15 digits, with spaces, dots, dashes and brackets between, `+` first.
    #[schema(required = true, pattern = "^\\s*\\+?[ ().-]*([0-9][ ().-]*){6,15}\\s*$")]
    #[serde(default)]
    pub phone: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = DeliveryDetails)]
pub struct DeliveryForm {
    #[schema(
        required = true,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    #[serde(default)]
    pub line1: String,
    #[schema(max_length = 200, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    #[serde(default)]
    pub line2: String,
    #[schema(
        required = true,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    #[serde(default)]
    pub city: String,
    /// In a shape of the country's postal codes.
    #[schema(
        required = true,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    #[serde(default)]
    pub postal_code: String,
    /// One of `GET /api/shipping-countries`.
    #[schema(required = true, schema_with = country_code)]
    #[serde(default)]
    pub country: String,
}

/// The codes of `SHIPPING_COUNTRIES`.
fn country_code() -> utoipa::openapi::schema::Object {
    crate::schema::one_of(SHIPPING_COUNTRIES.iter().map(|c| c.code))
}

/// The body as sent; every field may be missing or wrong. Its fields are those of
/// `DetailsForm` and `reviewed` side by side rather than a flattened `DetailsForm`: serde's
/// flatten loses the path of a wrong field (which a 422 names) and cannot deny unknown fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    #[schema(required = true)]
    #[serde(default)]
    pub contact: ContactForm,
    #[schema(required = true)]
    #[serde(default)]
    pub delivery: DeliveryForm,
    #[schema(value_type = ReviewedForm, required = true)]
    #[serde(default)]
    pub reviewed: Option<ReviewedForm>,
}

/// The total the shopper reviewed, in minor units, and its currency: when the cart's total is
/// another now, the checkout is refused (`prices_changed`) rather than charging it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewedForm {
    #[schema(value_type = i64, required = true, minimum = 0)]
    #[serde(default, deserialize_with = "crate::whole_number::optional")]
    pub total: Option<i64>,
    #[schema(value_type = Currency, required = true)]
    #[serde(default)]
    pub currency: Option<String>,
}

/// A checkout recorded: it runs on its own from here.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = CheckoutAccepted)]
pub struct CheckoutAccepted {
    pub checkout_id: Uuid,
    pub status_url: String,
    pub state: InstanceState,
}

/// A checkout as its shopper follows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkout {
    pub checkout_id: Uuid,
    pub state: InstanceState,
    pub order_id: Option<Uuid>,
    /// The order's status now (placed, confirmed, shipped, delivered, cancelled), once placed.
    pub order_status: Option<OrderStatus>,
    /// Why it failed, in words a shopper can read.
    pub failure: Option<String>,
    pub steps: Vec<CheckoutStep>,
    pub lines: Vec<OrderLine>,
    pub total: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

/// A step of a checkout, as its shopper is told of it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckoutStep {
    /// `validate_details`, `reserve_stock`, `place_order`, `publish_order_placed`.
    pub name: String,
    pub state: StepState,
    pub attempts: u32,
    pub error: Option<String>,
}

/// A checkout in the shopper's list.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckoutSummary {
    pub checkout_id: Uuid,
    pub state: InstanceState,
    pub order_id: Option<Uuid>,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckoutList {
    pub items: Vec<CheckoutSummary>,
}

/// A country the checkout delivers to, as the form offers it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ShippingCountry)]
pub struct CountryOption {
    /// ISO 3166 alpha-2, what a checkout sends.
    pub code: String,
    pub name: String,
}
