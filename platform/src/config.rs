//! Reading settings from the environment with working local defaults.

use std::str::FromStr;

use crate::StartupError;

/// The variable's value, or `default` when unset or empty.
pub fn var_or(name: &str, default: &str) -> String {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => default.to_owned(),
    }
}

/// The variable's value when set and not empty.
pub fn var_opt(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The variable parsed as `T`, or `default` when unset; a value that does not parse is an error
/// naming the variable, so a typo never silently falls back to the default.
pub fn parse_or<T: FromStr>(name: &str, default: T) -> Result<T, StartupError>
where
    T::Err: std::fmt::Display,
{
    match var_opt(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| StartupError::new(format!("{name}={raw:?} is not valid: {e}"))),
    }
}

/// The variable as a comma-separated list of addresses and CIDR ranges (the proxies whose
/// `X-Forwarded-For` a service believes); empty when unset: nothing is trusted by default.
pub fn ip_ranges(name: &str) -> Result<Vec<crate::http::IpRange>, StartupError> {
    ip_ranges_of(&var_or(name, "")).map_err(|e| StartupError::new(format!("{name}: {e}")))
}

/// A comma-separated list of addresses and CIDR ranges.
pub fn ip_ranges_of(list: &str) -> Result<Vec<crate::http::IpRange>, StartupError> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(StartupError::new))
        .collect()
}

/// A URL with its password hidden, safe to print.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("****"));
            }
            url.to_string()
        }
        Err(_) => "<unparseable url>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact_url("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:****@127.0.0.1:5672/%2f"
        );
        assert_eq!(
            redact_url("postgres://root@127.0.0.1/shop"),
            "postgres://root@127.0.0.1/shop"
        );
    }
}
