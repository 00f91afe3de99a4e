//! The body of `POST /api/checkout`: the contact and delivery details, and what the shopper
//! reviewed before placing the order (the cart's total and currency as they saw it).

use platform::FieldErrors;
use serde::Deserialize;

use super::details::{ContactForm, DeliveryForm, DetailsForm};
use crate::catalog::domain::{Currency, Money};

/// The body as sent; every field may be missing or wrong. Its fields are those of
/// `DetailsForm` and `reviewed` side by side rather than a flattened `DetailsForm`: serde's
/// flatten loses the path of a wrong field (which a 422 names) and cannot deny unknown fields.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
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
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewedForm {
    #[schema(value_type = i64, required = true, minimum = 0)]
    #[serde(default, deserialize_with = "platform::whole_number::optional")]
    pub total: Option<i64>,
    #[schema(value_type = Currency, required = true)]
    #[serde(default)]
    pub currency: Option<String>,
}

impl CheckoutRequest {
    /// The details (as sent: the saga's first step checks them again) and the total reviewed,
    /// or a message per wrong field.
    pub fn validate(self) -> Result<(DetailsForm, Money), FieldErrors> {
        let details = DetailsForm {
            contact: self.contact,
            delivery: self.delivery,
        };
        let mut errors = details.validate().err().unwrap_or_default();
        let reviewed = match self.reviewed {
            None => {
                errors.add(
                    "reviewed",
                    "Send the total the shopper reviewed: {\"total\": minor units, \"currency\": \"EUR\"}.",
                );
                None
            }
            Some(reviewed) => {
                let total = errors.check(
                    "reviewed.total",
                    match reviewed.total {
                        None => Err("Send the total the shopper reviewed, in minor units (cents).".to_owned()),
                        Some(total) if total < 0 => Err("A total is a whole number of cents, 0 or more.".to_owned()),
                        Some(total) => Ok(total),
                    },
                );
                let currency = errors.check(
                    "reviewed.currency",
                    Currency::parse(reviewed.currency.as_deref().unwrap_or_default()),
                );
                total.zip(currency)
            }
        };
        match reviewed {
            Some((minor, currency)) if errors.is_empty() => Ok((details, Money { minor, currency })),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: serde_json::Value) -> CheckoutRequest {
        serde_json::from_value(body).expect("the body's shape")
    }

    fn details() -> serde_json::Value {
        serde_json::json!({
            "contact": {"name": "Ada Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0958"},
            "delivery": {"line1": "12 St James's Square", "line2": "", "city": "London", "postal_code": "SW1Y 4LB", "country": "GB"}
        })
    }

    #[test]
    fn the_reviewed_total_comes_with_the_details() {
        let mut body = details();
        body["reviewed"] = serde_json::json!({"total": 2580, "currency": "eur"});
        let (details, reviewed) = request(body).validate().expect("valid");
        assert_eq!(details.contact.name, "Ada Lovelace");
        assert_eq!(reviewed.minor, 2580);
        assert_eq!(reviewed.currency.as_str(), "EUR");
    }

    #[test]
    fn a_missing_or_wrong_review_is_named_like_any_field() {
        let errors = request(details()).validate().expect_err("no review");
        assert!(errors.get("reviewed").is_some());
        let mut body = details();
        body["reviewed"] = serde_json::json!({"total": -1, "currency": "XTS"});
        let errors = request(body).validate().expect_err("a wrong review");
        assert!(errors.get("reviewed.total").is_some());
        assert!(errors.get("reviewed.currency").is_some());
        let errors = request(serde_json::json!({"reviewed": {}}))
            .validate()
            .expect_err("nothing");
        for field in [
            "contact.name",
            "delivery.country",
            "reviewed.total",
            "reviewed.currency",
        ] {
            assert!(errors.get(field).is_some(), "no message for {field}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut body = details();
        body["reviewd"] = serde_json::json!({"total": 1, "currency": "EUR"});
        assert!(serde_json::from_value::<CheckoutRequest>(body).is_err());
    }
}
