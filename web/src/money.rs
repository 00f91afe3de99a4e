//! Money as shoppers read it and operators type it. Amounts are integer minor units (cents);
//! no floating point anywhere.

/// `minor` units of `currency` for display: "€1,234.50", "$3.00", "£0.99", "12.90 CHF".
pub fn format_money(minor: i64, currency: &str) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let amount = plain_amount(minor.unsigned_abs());
    match currency {
        "EUR" => format!("{sign}€{amount}"),
        "USD" => format!("{sign}${amount}"),
        "GBP" => format!("{sign}£{amount}"),
        other => format!("{sign}{amount} {other}"),
    }
}

/// Units with thousands separators and two decimals: 123456 -> "1,234.56".
fn plain_amount(minor: u64) -> String {
    let (units, cents) = (minor / 100, minor % 100);
    let digits = units.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{grouped}.{cents:02}")
}

/// An amount as a form field shows it for editing: 1290 -> "12.90" (no symbol, no grouping).
pub fn amount_input(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// Parses an amount typed by an operator into minor units: "12", "12.9", "12.90" and
/// "12,90" are all accepted; negative amounts, more than two decimals and anything else not.
pub fn parse_amount(raw: &str) -> Result<i64, String> {
    const INVALID: &str = "Enter a price like 12.90.";
    let raw = raw.trim();
    let (units, cents) = match raw.split_once(['.', ',']) {
        Some((units, cents)) => (units, cents),
        None => (raw, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if units.is_empty() || units.len() > 12 || !all_digits(units) || cents.len() > 2 || !all_digits(cents) {
        return Err(INVALID.into());
    }
    if raw.contains(['.', ',']) && cents.is_empty() {
        return Err(INVALID.into());
    }
    let units: i64 = units.parse().map_err(|_| INVALID.to_owned())?;
    let cents: i64 = match cents.len() {
        0 => 0,
        1 => cents.parse::<i64>().map_err(|_| INVALID.to_owned())? * 10,
        _ => cents.parse().map_err(|_| INVALID.to_owned())?,
    };
    Ok(units * 100 + cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_currencies_with_their_symbol() {
        assert_eq!(format_money(1290, "EUR"), "€12.90");
        assert_eq!(format_money(300, "USD"), "$3.00");
        assert_eq!(format_money(99, "GBP"), "£0.99");
        assert_eq!(format_money(5, "EUR"), "€0.05");
        assert_eq!(format_money(0, "EUR"), "€0.00");
    }

    #[test]
    fn formats_other_currencies_with_their_code() {
        assert_eq!(format_money(1290, "CHF"), "12.90 CHF");
        assert_eq!(format_money(100, "SEK"), "1.00 SEK");
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(format_money(123_456, "EUR"), "€1,234.56");
        assert_eq!(format_money(100_000_000, "EUR"), "€1,000,000.00");
        assert_eq!(format_money(99_999, "EUR"), "€999.99");
    }

    #[test]
    fn keeps_the_sign_of_negative_amounts() {
        assert_eq!(format_money(-150, "EUR"), "-€1.50");
        assert_eq!(format_money(i64::MIN, "EUR"), "-€92,233,720,368,547,758.08");
    }

    #[test]
    fn amount_inputs_round_trip() {
        for minor in [0, 5, 90, 1290, 100_000_000] {
            assert_eq!(parse_amount(&amount_input(minor)), Ok(minor), "{minor}");
        }
        assert_eq!(amount_input(1290), "12.90");
    }

    #[test]
    fn parses_what_operators_type() {
        assert_eq!(parse_amount("12"), Ok(1200));
        assert_eq!(parse_amount("12.9"), Ok(1290));
        assert_eq!(parse_amount(" 12.90 "), Ok(1290));
        assert_eq!(parse_amount("12,90"), Ok(1290));
        assert_eq!(parse_amount("0.05"), Ok(5));
    }

    #[test]
    fn refuses_anything_else() {
        for raw in [
            "",
            " ",
            "-1",
            "+1",
            "12.",
            ".5",
            "12.345",
            "1,234.50",
            "12 EUR",
            "€12",
            "1e3",
            "9999999999999",
        ] {
            assert!(parse_amount(raw).is_err(), "{raw:?}");
        }
    }
}
