//! One refresh per refresh token. Customer rotates refresh tokens and treats a spent one
//! shown again as theft (it revokes the whole session), so when a browser sends several
//! requests with the same expired access token, only the first refreshes; the others, sent
//! before its new cookies arrived, reuse its outcome. The window is only as long as such a
//! burst: a spent token shown later is a replay (a stolen cookie), so it goes to customer,
//! whose reuse detection ends the session everywhere instead of handing the replayer the
//! owner's new tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::clients::CustomerClient;
use crate::clients::customer::{CustomerCallError, Tokens};

/// How long the outcome of a refresh is shared with later requests carrying the same token:
/// the requests of one page load (htmx polls, a form sent meanwhile), not a replay.
pub const SHARE_WINDOW: Duration = Duration::from_secs(5);

type Outcome = Result<Tokens, CustomerCallError>;

/// A refresh and when it started.
struct Flight {
    started: Instant,
    outcome: Arc<OnceCell<Outcome>>,
}

/// Refreshes in flight or just done, by refresh token.
#[derive(Default)]
pub struct RefreshFlights {
    flights: Mutex<HashMap<String, Flight>>,
}

impl RefreshFlights {
    /// The tokens that replace `refresh_token`, asking customer at most once per window.
    pub async fn refresh(&self, customer: &CustomerClient, refresh_token: &str) -> Outcome {
        let cell = {
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            flights.retain(|_, flight| flight.started.elapsed() < SHARE_WINDOW);
            flights
                .entry(refresh_token.to_owned())
                .or_insert_with(|| Flight {
                    started: Instant::now(),
                    outcome: Arc::default(),
                })
                .outcome
                .clone()
        };
        let outcome = cell.get_or_init(|| customer.refresh(refresh_token)).await.clone();
        if matches!(outcome, Err(CustomerCallError::Unavailable(_))) {
            // A passing outage should not stick: let the next request try again.
            let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
            if flights
                .get(refresh_token)
                .is_some_and(|flight| Arc::ptr_eq(&flight.outcome, &cell))
            {
                flights.remove(refresh_token);
            }
        }
        outcome
    }
}
