//! Throttling that an attacker cannot turn against others: attempts are counted per subject
//! (an account tried from one address, an address, registrations from an address) in the
//! database, so every instance of customer counts the same ones. No subject is an account
//! alone: failures from one address never refuse a correct password from another.
//!
//! A subject is either capped (at most `max` attempts within the window, then refused until
//! the oldest of them ages out) or slowed (after `max` failures, each further attempt waits
//! twice as long after the latest one as the one before, up to the window).

use std::net::IpAddr;
use std::time::Duration;

use sqlx::PgPool;

use crate::accounts::domain::Email;

/// How a subject is held back once it reached its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// Refused until the oldest counted attempt leaves the window.
    Capped,
    /// Allowed again `first`, then twice that, four times... after the latest attempt.
    Doubling { first: Duration },
}

/// A subject and how many attempts it gets within `window`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub subject: String,
    pub max: i64,
    pub window: Duration,
    pub backoff: Backoff,
}

/// The first delay of an account tried and failed from one address.
pub const FIRST_DELAY: Duration = Duration::from_secs(30);

/// The rules a login attempt for `email` from `address` counts against: that account from
/// that address (slowed), and the address on any account (capped). Emails longer than any
/// account's (they match none) share one subject: PostgreSQL cannot index subjects that long.
pub fn login_rules(email: &str, address: IpAddr, limits: &crate::config::LoginLimits) -> [Rule; 2] {
    let email = if email.len() <= Email::MAX_LEN {
        email
    } else {
        "(longer than any email)"
    };
    [
        Rule {
            subject: format!("login:{address}:{email}"),
            max: limits.failures_before_delay,
            window: limits.window,
            backoff: Backoff::Doubling { first: FIRST_DELAY },
        },
        Rule {
            subject: format!("login-address:{address}"),
            max: limits.per_address,
            window: limits.window,
            backoff: Backoff::Capped,
        },
    ]
}

/// The rules a second-factor code for `customer_id` from `address` counts against: the
/// login rules of its email (so codes and passwords share one count) and the account alone,
/// slowed after twice as many failures: whoever holds the password could otherwise guess codes
/// from many addresses.
pub fn second_factor_rules(
    email: &str,
    customer_id: uuid::Uuid,
    address: IpAddr,
    limits: &crate::config::LoginLimits,
) -> [Rule; 3] {
    let [pair, per_address] = login_rules(email, address, limits);
    let account = Rule {
        subject: format!("second-factor:{customer_id}"),
        max: limits.failures_before_delay * 2,
        window: limits.window,
        backoff: Backoff::Doubling { first: FIRST_DELAY },
    };
    [pair, per_address, account]
}

/// The rule a registration from `address` counts against.
pub fn registration_rule(address: IpAddr, limits: &crate::config::RegistrationLimits) -> Rule {
    Rule {
        subject: format!("register:{address}"),
        max: limits.per_address,
        window: limits.window,
        backoff: Backoff::Capped,
    }
}

/// Seconds to wait before `rule`'s subject may try again, given `count` attempts within the
/// window, the oldest and latest of them `oldest_ago` and `latest_ago` seconds ago (for a
/// capped subject, the oldest of the latest `max`).
fn wait(rule: &Rule, count: i64, oldest_ago: f64, latest_ago: f64) -> Option<f64> {
    if count < rule.max {
        return None;
    }
    let window = rule.window.as_secs_f64();
    let wait = match rule.backoff {
        Backoff::Capped => window - oldest_ago,
        Backoff::Doubling { first } => {
            let doublings = i32::try_from(count - rule.max).unwrap_or(i32::MAX).min(30);
            (first.as_secs_f64() * 2f64.powi(doublings)).min(window) - latest_ago
        }
    };
    (wait > 0.0).then_some(wait)
}

/// Seconds until every rule allows a new attempt, when some does not.
pub async fn retry_after(db: &PgPool, rules: &[Rule]) -> sqlx::Result<Option<u64>> {
    let mut longest: Option<f64> = None;
    for rule in rules {
        // The latest `max` attempts within the window: how many, the oldest and the latest.
        let (count, oldest_ago, latest_ago): (i64, Option<f64>, Option<f64>) = sqlx::query_as(
            "SELECT count(*), EXTRACT(EPOCH FROM now() - min(at))::float8, EXTRACT(EPOCH FROM now() - max(at))::float8
             FROM (SELECT at FROM throttled_attempts
                   WHERE subject = $1 AND at > now() - make_interval(secs => $3)
                   ORDER BY at DESC LIMIT $2) latest",
        )
        .bind(&rule.subject)
        .bind(match rule.backoff {
            Backoff::Capped => rule.max,
            // A slowed subject's delay grows with every failure in the window.
            Backoff::Doubling { .. } => i64::MAX,
        })
        .bind(rule.window.as_secs_f64())
        .fetch_one(db)
        .await?;
        if let Some(seconds) = wait(rule, count, oldest_ago.unwrap_or(0.0), latest_ago.unwrap_or(0.0)) {
            longest = Some(longest.map_or(seconds, |w| w.max(seconds)));
        }
    }
    Ok(longest.map(|s| s.ceil().max(1.0) as u64))
}

/// Counts an attempt against every rule, dropping attempts older than their window.
pub async fn record(db: &PgPool, rules: &[Rule]) -> sqlx::Result<()> {
    let subjects: Vec<&str> = rules.iter().map(|r| r.subject.as_str()).collect();
    let windows: Vec<f64> = rules.iter().map(|r| r.window.as_secs_f64()).collect();
    sqlx::query("INSERT INTO throttled_attempts (subject) SELECT unnest($1::text[])")
        .bind(&subjects)
        .execute(db)
        .await?;
    sqlx::query(
        "DELETE FROM throttled_attempts t USING unnest($1::text[], $2::float8[]) AS r(subject, window_secs) \
         WHERE t.subject = r.subject AND t.at <= now() - make_interval(secs => r.window_secs)",
    )
    .bind(&subjects)
    .bind(&windows)
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets a subject's attempts (an account that logged in from an address).
pub async fn clear(db: &PgPool, rule: &Rule) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM throttled_attempts WHERE subject = $1")
        .bind(&rule.subject)
        .execute(db)
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(max: i64, backoff: Backoff) -> Rule {
        Rule {
            subject: "s".into(),
            max,
            window: Duration::from_secs(900),
            backoff,
        }
    }

    #[test]
    fn a_capped_subject_waits_for_its_oldest_attempt_to_age_out() {
        let capped = rule(20, Backoff::Capped);
        assert_eq!(wait(&capped, 19, 10.0, 1.0), None);
        assert_eq!(wait(&capped, 20, 100.0, 1.0), Some(800.0));
        assert_eq!(wait(&capped, 20, 900.0, 1.0), None);
    }

    #[test]
    fn a_slowed_subject_waits_twice_as_long_after_each_further_failure_up_to_the_window() {
        let slowed = rule(5, Backoff::Doubling { first: FIRST_DELAY });
        assert_eq!(wait(&slowed, 4, 0.0, 0.0), None, "five tries before any delay");
        assert_eq!(wait(&slowed, 5, 50.0, 10.0), Some(20.0));
        assert_eq!(wait(&slowed, 5, 50.0, 30.0), None, "the delay is over");
        assert_eq!(wait(&slowed, 6, 50.0, 0.0), Some(60.0));
        assert_eq!(wait(&slowed, 7, 50.0, 0.0), Some(120.0));
        assert_eq!(
            wait(&slowed, 60, 50.0, 0.0),
            Some(900.0),
            "never longer than the window"
        );
    }

    #[test]
    fn an_account_is_limited_per_address_and_an_address_on_its_own() {
        let limits = crate::config::LoginLimits {
            failures_before_delay: 5,
            per_address: 20,
            window: Duration::from_secs(900),
        };
        let [pair, address] = login_rules("ada@example.com", "203.0.113.9".parse().unwrap(), &limits);
        assert_eq!(pair.subject, "login:203.0.113.9:ada@example.com");
        assert_eq!(address.subject, "login-address:203.0.113.9");
        let long = "a".repeat(400);
        let [pair, _] = login_rules(&long, "203.0.113.9".parse().unwrap(), &limits);
        assert!(pair.subject.len() < 100);
    }
}
