//! Contact and delivery details, and the rules they must meet. The same rules run when a
//! checkout is asked for (422 with per-field messages) and again in the saga's first step.

use contracts::events::{Contact, Delivery};
use platform::FieldErrors;
use serde::{Deserialize, Serialize};

/// A country we ship to and the shapes its postal codes take (`9` a digit, `A` a letter,
/// anything else itself).
pub struct ShippingCountry {
    pub code: &'static str,
    pub name: &'static str,
    postal_formats: &'static [&'static str],
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
    fn normalise_postal_code(&self, raw: &str) -> Option<String> {
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

    fn postal_example(&self) -> String {
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
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Details)]
pub struct DetailsForm {
    #[schema(required = true)]
    #[serde(default)]
    pub contact: ContactForm,
    #[schema(required = true)]
    #[serde(default)]
    pub delivery: DeliveryForm,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
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

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
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
    platform::openapi::one_of(SHIPPING_COUNTRIES.iter().map(|c| c.code))
}

impl DetailsForm {
    /// The details, cleaned, or a message per wrong field.
    pub fn validate(&self) -> Result<(Contact, Delivery), FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = text(&mut errors, "contact.name", &self.contact.name, 1, 100);
        let email = email(&mut errors, &self.contact.email);
        let phone = phone(&mut errors, &self.contact.phone);
        let line1 = text(&mut errors, "delivery.line1", &self.delivery.line1, 1, 200);
        let line2 = text(&mut errors, "delivery.line2", &self.delivery.line2, 0, 200);
        let city = text(&mut errors, "delivery.city", &self.delivery.city, 1, 100);
        let (country, postal_code) = match ShippingCountry::find(&self.delivery.country) {
            None => {
                let message = if self.delivery.country.trim().is_empty() {
                    "Choose the country to deliver to.".to_owned()
                } else {
                    "We do not ship to this country yet.".to_owned()
                };
                errors.add("delivery.country", message);
                (String::new(), self.delivery.postal_code.trim().to_owned())
            }
            Some(country) => {
                let postal_code = match country.normalise_postal_code(&self.delivery.postal_code) {
                    Some(code) => code,
                    None if self.delivery.postal_code.trim().is_empty() => {
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
        let (_, delivery) = form("gb", " sw1y4lb ").validate().expect("valid");
        assert_eq!(delivery.postal_code, "SW1Y 4LB");
        assert_eq!(delivery.country, "GB");
        let (_, delivery) = form("NL", "1012 ab").validate().expect("valid");
        assert_eq!(delivery.postal_code, "1012 AB");
        assert!(form("US", "94103-1234").validate().is_ok());
        assert!(form("DE", "10115").validate().is_ok());
    }

    #[test]
    fn a_postal_code_of_the_wrong_shape_is_refused_with_an_example() {
        let errors = form("DE", "1011").validate().expect_err("invalid");
        let message = errors.get("delivery.postal_code").expect("a postal code message");
        assert!(message.contains("Germany") && message.contains("11111"), "{message}");
        assert!(form("GB", "12345").validate().is_err());
    }

    #[test]
    fn countries_we_do_not_ship_to_are_refused() {
        let errors = form("XX", "12345").validate().expect_err("invalid");
        assert_eq!(
            errors.get("delivery.country"),
            Some("We do not ship to this country yet.")
        );
    }

    #[test]
    fn every_missing_field_gets_its_own_message() {
        let errors = DetailsForm::default().validate().expect_err("invalid");
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
        let errors = details.validate().expect_err("invalid");
        assert!(errors.get("contact.email").is_some());
        assert!(errors.get("contact.phone").is_some());
    }
}
