//! Sessions ended before their access tokens expired (logout, "log out everywhere", a password
//! change, a stolen refresh token). Customer announces them on the stream named by
//! [`stream`]; every service replays the stream's recent past when it connects and refuses
//! the tokens of an ended session until they would have expired anyway.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Routing key of [`SessionsEnded`] on the events exchange.
pub const SESSIONS_ENDED: &str = "session.ended";

/// The stream queue, bound to [`SESSIONS_ENDED`] on `events_exchange`, that keeps the
/// announcements for services that connect later.
pub fn stream(events_exchange: &str) -> String {
    format!("{events_exchange}.sessions-ended")
}

/// One announcement: sessions ended together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionsEnded {
    pub sessions: Vec<EndedSession>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndedSession {
    /// The `sid` claim of its tokens.
    pub id: Uuid,
    /// When its last access token expires, in seconds since the epoch: nobody needs to
    /// remember the session after that.
    pub tokens_expire_at: u64,
}
