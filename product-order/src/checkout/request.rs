//! The body of `POST /api/checkout`: the contact and delivery details, and what the shopper
//! reviewed before placing the order (the cart's total and currency as they saw it).

use api::checkout::{CheckoutRequest, DetailsForm};
use api::money::Currency;
use platform::FieldErrors;

use crate::catalog::domain::Money;

/// The details (as sent: the saga's first step checks them again) and the total reviewed, or
/// a message per wrong field.
pub fn validate(request: CheckoutRequest) -> Result<(DetailsForm, Money), FieldErrors> {
    let details = DetailsForm {
        contact: request.contact,
        delivery: request.delivery,
    };
    let mut errors = super::details::validate(&details).err().unwrap_or_default();
    let reviewed = match request.reviewed {
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
        let (details, reviewed) = validate(request(body)).expect("valid");
        assert_eq!(details.contact.name, "Ada Lovelace");
        assert_eq!(reviewed.minor, 2580);
        assert_eq!(reviewed.currency.as_str(), "EUR");
    }

    #[test]
    fn a_missing_or_wrong_review_is_named_like_any_field() {
        let errors = validate(request(details())).expect_err("no review");
        assert!(errors.get("reviewed").is_some());
        let mut body = details();
        body["reviewed"] = serde_json::json!({"total": -1, "currency": "XTS"});
        let errors = validate(request(body)).expect_err("a wrong review");
        assert!(errors.get("reviewed.total").is_some());
        assert!(errors.get("reviewed.currency").is_some());
        let errors = validate(request(serde_json::json!({"reviewed": {}}))).expect_err("nothing");
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
