//! Catalog values that exist only in valid form.

use api::money::Currency;

/// An amount in minor units (cents) of a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

/// The most a single price may be: 1,000,000.00.
pub const MAX_PRICE_MINOR: i64 = 100_000_000;

/// A product price: 0 ..= 1,000,000.00 in minor units.
pub fn parse_price(minor: i64) -> Result<i64, String> {
    if (0..=MAX_PRICE_MINOR).contains(&minor) {
        Ok(minor)
    } else {
        Err(format!(
            "A price is a whole number of cents from 0 to {MAX_PRICE_MINOR}."
        ))
    }
}

/// A stock keeping unit: 1 to 64 letters, digits, `-`, `_` or `.`; kept as upper case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku(String);

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let sku = raw.trim().to_ascii_uppercase();
        if sku.is_empty() {
            return Err("Enter a SKU.".into());
        }
        if sku.len() > 64 || !sku.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err("A SKU has 1 to 64 letters, digits, '-', '_' or '.'.".into());
        }
        Ok(Self(sku))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Free text of bounded length with no control characters (newlines and tabs allowed when
/// `multiline`).
pub fn parse_text(raw: &str, what: &str, min: usize, max: usize, multiline: bool) -> Result<String, String> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars < min {
        return Err(format!("Enter a {what}."));
    }
    if chars > max {
        return Err(format!("A {what} has at most {max} characters."));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\t' || c == '\r')))
    {
        return Err(format!("A {what} cannot contain control characters."));
    }
    Ok(text.to_owned())
}

/// An http(s) URL of a product image: `http://` or `https://`, a host name (dot-separated
/// labels of letters, digits and inner hyphens, the last starting with a letter, so never a
/// number or an address), then optionally a path, query or fragment of visible characters. No
/// port, no user, nothing a browser would quietly drop or rewrite (a line break, a space):
/// what the API description's pattern says, exactly.
pub fn parse_image_url(raw: &str) -> Result<Option<String>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let invalid = || "Enter an http:// or https:// address of at most 2000 characters.".to_owned();
    let rest = (raw.strip_prefix("https://").or_else(|| raw.strip_prefix("http://"))).ok_or_else(invalid)?;
    let (host, after) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let host_ok = host.split('.').all(label)
        && host
            .rsplit('.')
            .next()
            .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()));
    let after_ok = !after.chars().any(|c| c.is_whitespace() || c.is_control());
    if !host_ok || !after_ok || raw.chars().count() > 2000 {
        return Err(invalid());
    }
    let url = url::Url::parse(raw).map_err(|_| invalid())?;
    Ok(Some(url.to_string()))
}

/// The largest image an operator may upload: 2 MiB.
pub const MAX_IMAGE_BYTES: usize = 2 * 1024 * 1024;

/// An image format the shop serves, recognised by its first bytes (never by what the uploader
/// claims, so nothing else can be served under an image's content type).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Jpeg,
    Png,
    Webp,
}

impl ImageKind {
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0xFF, 0xD8, 0xFF, ..] => Some(Self::Jpeg),
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(Self::Png),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(Self::Webp),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::Webp => "image/webp",
        }
    }
}

/// Stock on hand: 0 ..= 1,000,000.
pub const MAX_STOCK: i64 = 1_000_000;

pub fn parse_stock(value: i64) -> Result<i32, String> {
    if (0..=MAX_STOCK).contains(&value) {
        Ok(value as i32)
    } else {
        Err(format!("Stock is a whole number from 0 to {MAX_STOCK}."))
    }
}

/// A quantity in a cart: 1 ..= 99.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i32);

impl Quantity {
    pub const MAX: i32 = 99;

    pub fn parse(value: i64) -> Result<Self, String> {
        if (1..=i64::from(Self::MAX)).contains(&value) {
            Ok(Self(value as i32))
        } else {
            Err(format!("Choose a quantity from 1 to {}.", Self::MAX))
        }
    }

    pub fn get(self) -> i32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currencies_are_a_closed_list() {
        assert_eq!(Currency::parse(" eur ").unwrap().as_str(), "EUR");
        assert!(Currency::parse("EURO").is_err());
        assert!(Currency::parse("XXX").is_err());
    }

    #[test]
    fn prices_are_bounded() {
        assert!(parse_price(-1).is_err());
        assert!(parse_price(0).is_ok());
        assert!(parse_price(MAX_PRICE_MINOR + 1).is_err());
    }

    #[test]
    fn skus_are_upper_case_and_plain() {
        assert_eq!(Sku::parse(" tea-001 ").unwrap().as_str(), "TEA-001");
        for bad in ["", "has space", "semi;colon", "é", &"A".repeat(65)] {
            assert!(Sku::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_is_trimmed_bounded_and_free_of_control_characters() {
        assert_eq!(parse_text("  Teapot ", "name", 1, 200, false).unwrap(), "Teapot");
        assert!(parse_text("   ", "name", 1, 200, false).is_err());
        assert!(parse_text("a\u{7}b", "name", 1, 200, false).is_err());
        assert!(parse_text("line\nline", "description", 0, 5000, true).is_ok());
        assert!(parse_text("line\nline", "name", 1, 200, false).is_err());
    }

    #[test]
    fn image_urls_are_http() {
        assert_eq!(parse_image_url("").unwrap(), None);
        assert!(parse_image_url("https://img.example/t.png").unwrap().is_some());
        assert!(parse_image_url("javascript:alert(1)").is_err());
        assert!(parse_image_url("not a url").is_err());
        for odd in [
            "https://img.example/t.png\n *",
            "https://img.example:8080/t.png",
            "https://user@img.example/t.png",
            "https://10.0.0.1/t.png",
            "https://img.example.0/t.png",
            "HTTPS://img.example/t.png",
            "https://-img.example/t.png",
        ] {
            assert!(parse_image_url(odd).is_err(), "{odd:?} was taken");
        }
        assert!(
            parse_image_url(" https://img.example/a/b.png?size=2#x ")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn images_are_known_by_their_first_bytes() {
        assert_eq!(ImageKind::sniff(b"\xFF\xD8\xFF\xE0 JFIF"), Some(ImageKind::Jpeg));
        assert_eq!(ImageKind::sniff(b"\x89PNG\r\n\x1A\n rest"), Some(ImageKind::Png));
        assert_eq!(ImageKind::sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some(ImageKind::Webp));
        assert_eq!(ImageKind::Webp.content_type(), "image/webp");
        for not_an_image in [
            &b""[..],
            b"\xFF\xD8",
            b"GIF89a....",
            b"<svg xmlns=",
            b"RIFF\x10\0\0\0WAVEfmt ",
        ] {
            assert_eq!(ImageKind::sniff(not_an_image), None, "{not_an_image:?}");
        }
    }

    #[test]
    fn quantities_are_1_to_99() {
        assert!(Quantity::parse(0).is_err());
        assert_eq!(Quantity::parse(99).unwrap().get(), 99);
        assert!(Quantity::parse(100).is_err());
        assert!(Quantity::parse(-5).is_err());
    }
}
