//! Sessions ended before their access tokens expired, learned from the sessions-ended stream
//! that customer announces them on (`contracts::sessions`).
//!
//! An instance replays the stream from as far back as a live token reaches every time it
//! (re)connects, so one that was down, cut off or just started still knows every ended session
//! whose tokens could be shown to it. Entries are forgotten once those tokens have expired.
//! What this cannot cover: an instance started while the broker is unreachable learns of
//! earlier endings only when it connects, and an ending announced in the moment between an
//! instance's start and its replay reaching the end of the stream is refused a little late.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use contracts::claims::{LEEWAY_SECS, MAX_LIFETIME_SECS};
use contracts::sessions::{self, EndedSession, SessionsEnded};
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Consumer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

use crate::broker::{Broker, consume};

/// The ended sessions whose tokens may still be alive; cheap to clone, shared by the verifier
/// and the task that follows the stream.
#[derive(Clone, Default)]
pub struct EndedSessions(Arc<RwLock<HashMap<Uuid, u64>>>);

impl EndedSessions {
    /// Whether `session` ended (and its tokens have not all expired yet).
    pub fn contains(&self, session: Uuid) -> bool {
        let ended = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        ended.get(&session).is_some_and(|until| until + LEEWAY_SECS >= now())
    }

    /// Remembers `sessions` and forgets those whose tokens have all expired.
    pub fn record(&self, sessions: &[EndedSession]) {
        let now = now();
        let mut ended = self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        ended.retain(|_, until| *until + LEEWAY_SECS >= now);
        for session in sessions.iter().filter(|s| s.tokens_expire_at + LEEWAY_SECS >= now) {
            ended.insert(session.id, session.tokens_expire_at);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// How long the broker keeps announcements: well past the longest token lifetime, so a replay
/// from that far back finds them all (the broker drops whole segments, so it may keep more).
const RETENTION: &str = "1h";
/// Small segments, so retention drops old announcements soon after they are an hour old.
const SEGMENT_BYTES: i64 = 1_000_000;
/// A replay starts this much earlier than the longest token lifetime: tokens are accepted a few
/// seconds past their expiry, and clocks differ.
const REPLAY_MARGIN: Duration = Duration::from_secs(60);
/// Announcements held at once.
const PREFETCH: u16 = 100;

/// Declares the stream and its binding (idempotent): customer before it announces, so nothing
/// announced before any follower connected is lost, and every follower before it replays.
pub async fn declare_stream(channel: &Channel, events_exchange: &str) -> Result<String, lapin::Error> {
    let stream = sessions::stream(events_exchange);
    let mut arguments = FieldTable::default();
    arguments.insert("x-queue-type".into(), AMQPValue::LongString("stream".into()));
    arguments.insert("x-max-age".into(), AMQPValue::LongString(RETENTION.into()));
    arguments.insert(
        "x-stream-max-segment-size-bytes".into(),
        AMQPValue::LongLongInt(SEGMENT_BYTES),
    );
    channel
        .queue_declare(
            stream.as_str().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            arguments,
        )
        .await?;
    channel
        .queue_bind(
            stream.as_str().into(),
            events_exchange.into(),
            sessions::SESSIONS_ENDED.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    Ok(stream)
}

/// Follows the stream into `ended` until `shutdown`, replaying its recent past on every
/// (re)connection.
pub fn follow(broker: Broker, ended: EndedSessions, shutdown: CancellationToken, tasks: &TaskTracker) {
    let record = move |_channel, delivery: Delivery| {
        let ended = ended.clone();
        async move {
            match serde_json::from_slice::<SessionsEnded>(&delivery.data) {
                Ok(announcement) => ended.record(&announcement.sessions),
                Err(e) => tracing::warn!(error = %e, "sessions-ended stream: unreadable announcement skipped"),
            }
            // A stream keeps its messages: the ack only lets the broker send more.
            let _ = delivery.acker.ack(BasicAckOptions::default()).await;
            true
        }
    };
    let subscribe = |broker: Broker| async move { subscribe(&broker).await };
    tasks.spawn(async move { consume(broker, "the sessions-ended stream", subscribe, shutdown, record).await });
}

async fn subscribe(broker: &Broker) -> Result<(Channel, Consumer), lapin::Error> {
    let channel = broker.channel().await?;
    let stream = declare_stream(&channel, broker.events_exchange()).await?;
    channel.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    let replay_from = now().saturating_sub(MAX_LIFETIME_SECS + REPLAY_MARGIN.as_secs());
    let mut arguments = FieldTable::default();
    arguments.insert("x-stream-offset".into(), AMQPValue::Timestamp(replay_from));
    let consumer = channel
        .basic_consume(
            stream.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            arguments,
        )
        .await?;
    Ok((channel, consumer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: Uuid, tokens_expire_at: u64) -> EndedSession {
        EndedSession { id, tokens_expire_at }
    }

    #[test]
    fn an_ended_session_is_refused_until_its_tokens_expire_and_then_forgotten() {
        let ended = EndedSessions::default();
        let (live, expired, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        ended.record(&[session(live, now() + 60), session(expired, now() - LEEWAY_SECS - 1)]);
        assert!(ended.contains(live));
        assert!(!ended.contains(expired), "its tokens expired: nothing to refuse");
        assert!(!ended.contains(other));
        assert_eq!(ended.len(), 1, "an expired ending is not kept");
    }

    #[test]
    fn a_replayed_announcement_changes_nothing() {
        let ended = EndedSessions::default();
        let id = Uuid::new_v4();
        let announcement = [session(id, now() + 60)];
        ended.record(&announcement);
        ended.record(&announcement);
        assert!(ended.contains(id));
        assert_eq!(ended.len(), 1);
    }
}
