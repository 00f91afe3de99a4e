//! How a shopper's details read to operators until they reveal them: enough to tell shoppers
//! apart, not to know who they are.

use api::checkout::{ContactForm, DeliveryForm, DetailsForm};

/// The details with every personal field masked (the city and country stay readable).
pub fn masked(details: &DetailsForm) -> DetailsForm {
    DetailsForm {
        contact: ContactForm {
            name: mask_words(&details.contact.name),
            email: mask_email(&details.contact.email),
            phone: mask_phone(&details.contact.phone),
        },
        delivery: DeliveryForm {
            line1: mask_words(&details.delivery.line1),
            line2: mask_words(&details.delivery.line2),
            city: details.delivery.city.clone(),
            postal_code: mask_words(&details.delivery.postal_code),
            country: details.delivery.country.clone(),
        },
    }
}

/// The fields that differ between `before` and `after`, named as in validation messages.
pub fn changed_fields(before: &DetailsForm, after: &DetailsForm) -> Vec<&'static str> {
    let (b, a) = (&before.contact, &after.contact);
    let (bd, ad) = (&before.delivery, &after.delivery);
    [
        ("contact.name", b.name != a.name),
        ("contact.email", b.email != a.email),
        ("contact.phone", b.phone != a.phone),
        ("delivery.line1", bd.line1 != ad.line1),
        ("delivery.line2", bd.line2 != ad.line2),
        ("delivery.city", bd.city != ad.city),
        ("delivery.postal_code", bd.postal_code != ad.postal_code),
        ("delivery.country", bd.country != ad.country),
    ]
    .into_iter()
    .filter(|(_, changed)| *changed)
    .map(|(field, _)| field)
    .collect()
}

/// Each word's first character, then one star per other character: "A** L*******".
fn mask_words(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            let mut chars = word.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            first + &"*".repeat(chars.count())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The first character of the local part and the domain: "a***@example.com".
fn mask_email(email: &str) -> String {
    match email.trim().split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => mask_words(email),
    }
}

/// Only the last 3 digits: "*** 958".
fn mask_phone(phone: &str) -> String {
    let digits: Vec<char> = phone.chars().filter(char::is_ascii_digit).collect();
    let last: String = digits[digits.len().saturating_sub(3)..].iter().collect();
    format!("*** {last}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> DetailsForm {
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
                postal_code: "SW1Y 4LB".into(),
                country: "GB".into(),
            },
        }
    }

    #[test]
    fn personal_fields_are_masked() {
        let masked = masked(&ada());
        assert_eq!(masked.contact.name, "A** L*******");
        assert_eq!(masked.contact.email, "a***@example.com");
        assert_eq!(masked.contact.phone, "*** 958");
        assert_eq!(masked.delivery.line1, "1* S* J****** S*****");
        assert_eq!(masked.delivery.postal_code, "S*** 4**");
        assert_eq!(masked.delivery.city, "London");
        assert_eq!(mask_phone(""), "*** ");
    }

    #[test]
    fn changes_are_named_by_field() {
        let mut after = ada();
        after.delivery.country = "FR".into();
        after.delivery.postal_code = "75001".into();
        assert_eq!(
            changed_fields(&ada(), &after),
            ["delivery.postal_code", "delivery.country"]
        );
        assert!(changed_fields(&ada(), &ada()).is_empty());
    }
}
