//! Contact and delivery details, and the rules they must meet. The same rules run when a
//! checkout is asked for (422 with per-field messages) and again in the saga's first step.

use api::checkout::{DetailsForm, ShippingCountry};
use contracts::events::{Contact, Delivery};
use platform::FieldErrors;

/// The details, cleaned, or a message per wrong field.
pub fn validate(form: &DetailsForm) -> Result<(Contact, Delivery), FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = text(&mut errors, "contact.name", &form.contact.name, 1, 100);
    let email = email(&mut errors, &form.contact.email);
    let phone = phone(&mut errors, &form.contact.phone);
    let line1 = text(&mut errors, "delivery.line1", &form.delivery.line1, 1, 200);
    let line2 = text(&mut errors, "delivery.line2", &form.delivery.line2, 0, 200);
    let city = text(&mut errors, "delivery.city", &form.delivery.city, 1, 100);
    let (country, postal_code) = match ShippingCountry::find(&form.delivery.country) {
        None => {
            let message = if form.delivery.country.trim().is_empty() {
                "Choose the country to deliver to.".to_owned()
            } else {
                "We do not ship to this country yet.".to_owned()
            };
            errors.add("delivery.country", message);
            (String::new(), form.delivery.postal_code.trim().to_owned())
        }
        Some(country) => {
            let postal_code = match country.normalise_postal_code(&form.delivery.postal_code) {
                Some(code) => code,
                None if form.delivery.postal_code.trim().is_empty() => {
                    errors.add("delivery.postal_code", "Enter the postal code.".to_owned());
                    String::new()
                }
                None => {
                    errors.add(
                        "delivery.postal_code",
                        format!(
                            "This is not a postal code in {}; it looks like {}.",
                            country.name,
                            country.postal_example()
                        ),
                    );
                    String::new()
                }
            };
            (country.code.to_owned(), postal_code)
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok((
        Contact { name, email, phone },
        Delivery {
            line1,
            line2,
            city,
            postal_code,
            country,
        },
    ))
}

fn text(errors: &mut FieldErrors, field: &str, raw: &str, min: usize, max: usize) -> String {
    let value = raw.trim().to_owned();
    let length = value.chars().count();
    if length < min {
        errors.add(field, "This field is required.".to_owned());
    } else if length > max {
        errors.add(field, format!("At most {max} characters."));
    } else if value.chars().any(char::is_control) {
        errors.add(field, "Remove the control characters.".to_owned());
    }
    value
}

fn email(errors: &mut FieldErrors, raw: &str) -> String {
    let value = raw.trim().to_owned();
    let valid = value.chars().count() <= 254
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.chars().count() <= 64
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            }
            None => false,
        };
    if value.is_empty() {
        errors.add(
            "contact.email",
            "Enter an email address for updates on the order.".to_owned(),
        );
    } else if !valid {
        errors.add(
            "contact.email",
            "Enter an email address like name@example.com.".to_owned(),
        );
    }
    value
}

fn phone(errors: &mut FieldErrors, raw: &str) -> String {
    let value = raw.trim().to_owned();
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let allowed = value
        .chars()
        .enumerate()
        .all(|(i, c)| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.') || (c == '+' && i == 0));
    if value.is_empty() {
        errors.add("contact.phone", "Enter a phone number the courier can call.".to_owned());
    } else if !allowed || !(6..=15).contains(&digits) {
        errors.add(
            "contact.phone",
            "Enter a phone number of 6 to 15 digits, like +44 20 7946 0958.".to_owned(),
        );
    }
    value
}

#[cfg(test)]
mod tests {
    use api::checkout::{ContactForm, DeliveryForm};

    use super::*;

    fn form(country: &str, postal_code: &str) -> DetailsForm {
        DetailsForm {
            contact: ContactForm {
                name: "Ada Lovelace".into(),
                email: "ada@example.com".into(),
                phone: "+44 20 7946 0958".into(),
            },
            delivery: DeliveryForm {
                line1: "12 St James's Square".into(),
                line2: String::new(),
                city: "London".into(),
                postal_code: postal_code.into(),
                country: country.into(),
            },
        }
    }

    #[test]
    fn valid_details_come_back_cleaned() {
        let (_, delivery) = validate(&form("gb", " sw1y4lb ")).expect("valid");
        assert_eq!(delivery.postal_code, "SW1Y 4LB");
        assert_eq!(delivery.country, "GB");
        let (_, delivery) = validate(&form("NL", "1012 ab")).expect("valid");
        assert_eq!(delivery.postal_code, "1012 AB");
        assert!(validate(&form("US", "94103-1234")).is_ok());
        assert!(validate(&form("DE", "10115")).is_ok());
    }

    #[test]
    fn a_postal_code_of_the_wrong_shape_is_refused_with_an_example() {
        let errors = validate(&form("DE", "1011")).expect_err("invalid");
        let message = errors.get("delivery.postal_code").expect("a postal code message");
        assert!(message.contains("Germany") && message.contains("11111"), "{message}");
        assert!(validate(&form("GB", "12345")).is_err());
    }

    #[test]
    fn countries_we_do_not_ship_to_are_refused() {
        let errors = validate(&form("XX", "12345")).expect_err("invalid");
        assert_eq!(
            errors.get("delivery.country"),
            Some("We do not ship to this country yet.")
        );
    }

    #[test]
    fn every_missing_field_gets_its_own_message() {
        let errors = validate(&DetailsForm::default()).expect_err("invalid");
        for field in [
            "contact.name",
            "contact.email",
            "contact.phone",
            "delivery.line1",
            "delivery.city",
            "delivery.country",
        ] {
            assert!(errors.get(field).is_some(), "no message for {field}");
        }
        assert!(errors.get("delivery.line2").is_none(), "line2 is optional");
    }

    #[test]
    fn bad_emails_and_phones_are_refused() {
        let mut details = form("FR", "75001");
        details.contact.email = "ada@localhost".into();
        details.contact.phone = "call me".into();
        let errors = validate(&details).expect_err("invalid");
        assert!(errors.get("contact.email").is_some());
        assert!(errors.get("contact.phone").is_some());
    }
}
