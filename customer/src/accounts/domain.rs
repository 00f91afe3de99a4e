//! Validated account fields: an `Email`, `DisplayName` or `Password` exists only in valid form.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// An email address, trimmed and lower-cased (the form stored and compared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The longest address there is (RFC 5321), in bytes.
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("Enter your email address.".into());
        }
        if email.len() > Self::MAX_LEN {
            return Err("An email address has at most 254 characters.".into());
        }
        let invalid = || "Enter an email address like name@example.com.".to_owned();
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        let domain_ok = domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(email))
        } else {
            Err(invalid())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's name as shown in the shop: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("Enter your name.".into());
        }
        // Counted as sent, spaces around it included, as the API's description says.
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(format!("A name has at most {} characters.", Self::MAX_CHARS));
        }
        if name.chars().any(char::is_control) {
            return Err("A name cannot contain control characters.".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 8 to 128 characters, taken as typed (never trimmed, never logged).
pub struct Password(String);

/// The 100,000 most common passwords of SecLists' "10 million password list" (OWASP SecLists,
/// by Daniel Miessler and Jason Haddix, CC BY-SA 3.0), those of 8 characters or more,
/// lower-cased: 38,452 of them.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| include_str!("common-passwords.txt").lines().collect());

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// A password of the right length (ASVS 6.2: any characters, 8 to 128 of them) that is
    /// not among the most common ones, not one character repeated and not the account's
    /// email (or the part of it before the @), whatever the case.
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, String> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(format!("Use at least {} characters.", Self::MIN_CHARS));
        }
        if chars > Self::MAX_CHARS {
            return Err(format!("Use at most {} characters.", Self::MAX_CHARS));
        }
        let lowered = raw.to_lowercase();
        let mut distinct = raw.chars();
        let first = distinct.next();
        if distinct.all(|c| Some(c) == first) {
            return Err("Use more than one character, repeated.".into());
        }
        if let Some(email) = email {
            let address = email.as_str();
            let local = address.split('@').next().unwrap_or(address);
            if lowered == address || lowered == local {
                return Err("Use something other than your email address.".into());
            }
        }
        if COMMON_PASSWORDS.contains(lowered.as_str()) {
            return Err("This password is among the most common ones, which are tried first: choose another.".into());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        assert_eq!(Email::parse("  Ada@Example.COM ").unwrap().as_str(), "ada@example.com");
    }

    #[test]
    fn emails_without_a_proper_domain_or_local_part_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "ada@@example.com",
            "a da@example.com",
            "ada@-example.com",
            "ada@example..com",
            ".ada@example.com",
            "ada<script>@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn overlong_email_is_refused() {
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn name_is_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada Lovelace ").unwrap().as_str(), "Ada Lovelace");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"é".repeat(101)).is_err());
        assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
        assert!(DisplayName::parse("Ada\u{0}").is_err());
    }

    #[test]
    fn password_length_counts_characters() {
        assert!(Password::parse("1234567", None).is_err());
        assert!(Password::parse("tea at 5 today", None).is_ok());
        assert!(Password::parse(&"üa".repeat(64), None).is_ok());
        assert!(Password::parse(&"üa".repeat(65), None).is_err());
        assert!(Password::parse("  spaced  ", None).is_ok(), "passwords are not trimmed");
    }

    #[test]
    fn common_repeated_and_email_passwords_are_refused() {
        for common in [
            "12345678",
            "password",
            "Password",
            "iloveyou",
            "qwertyuiop",
            "PASSWORD1",
        ] {
            let refused = Password::parse(common, None).unwrap_err();
            assert!(refused.contains("most common"), "{common}: {refused}");
        }
        for repeated in ["        ", "aaaaaaaa", "üüüüüüüü"] {
            assert!(Password::parse(repeated, None).is_err(), "{repeated:?}");
        }
        let email = Email::parse("Grace.Hopper@example.com").unwrap();
        for own in ["grace.hopper@example.com", "GRACE.HOPPER@EXAMPLE.COM", "grace.hopper"] {
            let refused = Password::parse(own, Some(&email)).unwrap_err();
            assert!(refused.contains("email"), "{own}: {refused}");
        }
        assert!(Password::parse("grace.hopper sails", Some(&email)).is_ok());
    }

    #[test]
    fn password_debug_hides_it() {
        assert_eq!(
            format!("{:?}", Password::parse("hunter2hunter2", None).unwrap()),
            "Password(****)"
        );
    }
}
