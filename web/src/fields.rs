//! Messages by field name, as forms show them next to their fields.

use std::collections::BTreeMap;

/// Messages by the form's field names.
pub type FieldErrors = BTreeMap<String, String>;

/// Splits `errors` into those of `fields` (shown next to them) and the others' messages.
pub fn split_errors(mut errors: FieldErrors, fields: &[&str]) -> (FieldErrors, Vec<String>) {
    let mut others = Vec::new();
    errors.retain(|field, message| {
        let ours = fields.contains(&field.as_str());
        if !ours {
            others.push(message.clone());
        }
        ours
    });
    (errors, others)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_of_other_fields_are_shown_apart() {
        let errors = FieldErrors::from([
            ("sku".to_owned(), "taken".to_owned()),
            ("limit".to_owned(), "odd".to_owned()),
        ]);
        let (ours, others) = split_errors(errors, &["sku", "name"]);
        assert_eq!(ours.len(), 1);
        assert_eq!(others, ["odd"]);
    }
}
