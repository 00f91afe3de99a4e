//! The checkout form: what it sends, how product-order names its fields, and the
//! idempotency key that makes a form sent twice (a double click, a reload) place one order.

use std::collections::BTreeMap;

use api::checkout::{CheckoutRequest, ContactForm, DeliveryForm, DetailsForm, ReviewedForm};
use serde::Deserialize;
use uuid::Uuid;

use crate::session::CurrentUser;

pub use crate::fields::FieldErrors;

/// The form's fields, each with the name product-order gives it in its messages.
pub const FIELDS: [(&str, &str); 8] = [
    ("contact_name", "contact.name"),
    ("contact_email", "contact.email"),
    ("contact_phone", "contact.phone"),
    ("delivery_line1", "delivery.line1"),
    ("delivery_line2", "delivery.line2"),
    ("delivery_city", "delivery.city"),
    ("delivery_postal_code", "delivery.postal_code"),
    ("delivery_country", "delivery.country"),
];

/// The fields of the checkout form, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CheckoutForm {
    /// Made when the form is first shown and kept while it is corrected.
    #[serde(default)]
    pub idempotency_key: String,
    #[serde(default)]
    pub contact_name: String,
    #[serde(default)]
    pub contact_email: String,
    #[serde(default)]
    pub contact_phone: String,
    #[serde(default)]
    pub delivery_line1: String,
    #[serde(default)]
    pub delivery_line2: String,
    #[serde(default)]
    pub delivery_city: String,
    #[serde(default)]
    pub delivery_postal_code: String,
    /// A country code from the list product-order ships to.
    #[serde(default)]
    pub delivery_country: String,
    /// The cart's total the page showed, in minor units (a hidden field).
    #[serde(default)]
    pub reviewed_total: String,
    /// The cart's currency the page showed (a hidden field).
    #[serde(default)]
    pub reviewed_currency: String,
}

impl CheckoutForm {
    /// The form for `user` to fill in, with their name and email and a fresh key.
    pub fn blank(user: &CurrentUser) -> Self {
        Self {
            idempotency_key: new_idempotency_key(),
            contact_name: user.name.clone(),
            contact_email: user.email.clone(),
            ..Self::default()
        }
    }

    /// The same details under a fresh key: a new checkout, not a repeat of the last one.
    pub fn with_new_key(self) -> Self {
        Self {
            idempotency_key: new_idempotency_key(),
            ..self
        }
    }

    /// The form's key, when it is one this page made (a UUID).
    pub fn idempotency_key(&self) -> Option<String> {
        Uuid::parse_str(self.idempotency_key.trim())
            .ok()
            .map(|key| key.to_string())
    }

    /// The total and currency the page showed, when the form carries them (product-order
    /// checks the currency).
    pub fn reviewed(&self) -> Option<ReviewedForm> {
        let total = self.reviewed_total.trim().parse().ok()?;
        let currency = self.reviewed_currency.trim();
        (!currency.is_empty()).then(|| ReviewedForm {
            total: Some(total),
            currency: Some(currency.to_owned()),
        })
    }

    /// The checkout request: the details as typed (product-order checks and cleans them) and
    /// the total the shopper reviewed.
    pub fn request(&self, reviewed: ReviewedForm) -> CheckoutRequest {
        let DetailsForm { contact, delivery } = self.details();
        CheckoutRequest {
            contact,
            delivery,
            reviewed: Some(reviewed),
        }
    }

    /// The details, as typed.
    pub fn details(&self) -> DetailsForm {
        DetailsForm {
            contact: ContactForm {
                name: self.contact_name.clone(),
                email: self.contact_email.clone(),
                phone: self.contact_phone.clone(),
            },
            delivery: DeliveryForm {
                line1: self.delivery_line1.clone(),
                line2: self.delivery_line2.clone(),
                city: self.delivery_city.clone(),
                postal_code: self.delivery_postal_code.clone(),
                country: self.delivery_country.clone(),
            },
        }
    }
}

/// A random idempotency key.
pub fn new_idempotency_key() -> String {
    Uuid::new_v4().to_string()
}

/// product-order's messages by the form's field names, and those about no field of it.
pub fn field_errors(refused: BTreeMap<String, String>) -> (FieldErrors, Vec<String>) {
    let mut errors = FieldErrors::new();
    let mut others = Vec::new();
    for (field, message) in refused {
        match FIELDS.iter().find(|(_, api)| *api == field) {
            Some((ours, _)) => {
                errors.insert((*ours).to_owned(), message);
            }
            None => others.push(message),
        }
    }
    (errors, others)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shopper() -> CurrentUser {
        CurrentUser {
            id: Uuid::nil(),
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            role: contracts::Role::Shopper,
        }
    }

    #[test]
    fn a_blank_form_knows_the_shopper_and_has_a_key() {
        let form = CheckoutForm::blank(&shopper());
        assert_eq!(form.contact_email, "ada@example.com");
        assert_eq!(form.contact_name, "Ada Lovelace");
        assert!(form.idempotency_key().is_some());
        let again = form.clone().with_new_key();
        assert_ne!(again.idempotency_key, form.idempotency_key);
        assert_eq!(again.contact_email, form.contact_email);
    }

    #[test]
    fn only_uuids_are_keys() {
        let form = |key: &str| CheckoutForm {
            idempotency_key: key.into(),
            ..CheckoutForm::default()
        };
        assert_eq!(
            form(" 67e55044-10b1-426f-9247-bb680e5fe0c8 ")
                .idempotency_key()
                .as_deref(),
            Some("67e55044-10b1-426f-9247-bb680e5fe0c8")
        );
        for key in ["", "not a key", "67e55044-10b1-426f-9247"] {
            assert_eq!(form(key).idempotency_key(), None, "{key:?}");
        }
    }

    #[test]
    fn the_reviewed_total_is_read_from_the_hidden_fields() {
        let form = |total: &str, currency: &str| CheckoutForm {
            reviewed_total: total.into(),
            reviewed_currency: currency.into(),
            ..CheckoutForm::default()
        };
        assert_eq!(
            form(" 2580 ", "EUR").reviewed(),
            Some(ReviewedForm {
                total: Some(2580),
                currency: Some("EUR".into())
            })
        );
        for (total, currency) in [("", "EUR"), ("25.80", "EUR"), ("2580", ""), ("lots", "EUR")] {
            assert_eq!(form(total, currency).reviewed(), None, "{total:?} {currency:?}");
        }
    }

    #[test]
    fn refusals_land_on_their_fields() {
        let refused = BTreeMap::from([
            ("delivery.postal_code".to_owned(), "Not a postal code.".to_owned()),
            ("contact.email".to_owned(), "Not an email.".to_owned()),
            ("cart".to_owned(), "Something else.".to_owned()),
        ]);
        let (errors, others) = field_errors(refused);
        assert_eq!(errors["delivery_postal_code"], "Not a postal code.");
        assert_eq!(errors["contact_email"], "Not an email.");
        assert_eq!(others, ["Something else."]);
    }

    #[test]
    fn details_are_sent_as_typed() {
        let form = CheckoutForm {
            delivery_postal_code: " 10115 ".into(),
            delivery_country: "DE".into(),
            ..CheckoutForm::default()
        };
        let details = form.details();
        assert_eq!(details.delivery.postal_code, " 10115 ");
        assert_eq!(details.delivery.country, "DE");
    }
}
