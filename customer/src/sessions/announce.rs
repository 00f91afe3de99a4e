//! Tells every service which sessions ended: rows of `ended_sessions` not announced yet go
//! out on the sessions-ended stream (`contracts::sessions`) with publisher confirms, and are
//! then marked.
//!
//! This runs apart from the requests that end sessions. What counts is their commit: a
//! client that hangs up just after it still has its session announced, by this instance
//! woken at once or by whichever instance sweeps next (every second). Instances share the
//! rows with `SKIP LOCKED`; an announcement that goes out twice changes nothing. While the
//! broker is away the rows wait, and the ended sessions' access tokens keep working on the
//! other services until it is back or they expire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use contracts::sessions::{EndedSession, SESSIONS_ENDED, SessionsEnded};
use platform::auth::ended::declare_stream;
use platform::broker::{Broker, Publisher};
use sqlx::PgPool;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// Wakes the announcer after a transaction that ended sessions has committed.
#[derive(Clone, Default)]
pub struct Announcements(Arc<Notify>);

impl Announcements {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

/// Sessions announced in one message at most.
const BATCH: i64 = 500;

/// Runs the announcer until `shutdown`.
pub fn spawn(db: PgPool, broker: Broker, wake: Announcements, shutdown: CancellationToken, tasks: &TaskTracker) {
    let publisher = Publisher::new(broker.clone());
    tasks.spawn(async move {
        let mut last_cleanup = None::<Instant>;
        loop {
            match announce_batch(&db, &broker, &publisher).await {
                Ok(announced) if announced >= BATCH as usize => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "ended sessions not announced yet; retrying"),
            }
            if last_cleanup.is_none_or(|at| at.elapsed() > Duration::from_secs(60)) {
                last_cleanup = Some(Instant::now());
                // Kept a day after the tokens expired, for operators' questions.
                let forgotten = sqlx::query(
                    "DELETE FROM ended_sessions WHERE announced_at IS NOT NULL
                       AND tokens_expire_at < now() - interval '1 day'",
                )
                .execute(&db)
                .await;
                if let Err(e) = forgotten {
                    tracing::warn!(error = %e, "could not forget old ended sessions");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = wake.0.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

#[derive(Debug, thiserror::Error)]
enum AnnounceError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Publish(#[from] platform::broker::PublishError),
    #[error("RabbitMQ: {0}")]
    Broker(#[from] lapin::Error),
    #[error("the sessions-ended stream is missing; declared it again")]
    Unrouted,
}

async fn announce_batch(db: &PgPool, broker: &Broker, publisher: &Publisher) -> Result<usize, AnnounceError> {
    let mut tx = db.begin().await?;
    let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(
        "SELECT family_id, tokens_expire_at FROM ended_sessions WHERE announced_at IS NULL
         ORDER BY ended_at LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let announcement = SessionsEnded {
        sessions: rows
            .iter()
            .map(|(id, until)| EndedSession {
                id: *id,
                tokens_expire_at: until.timestamp().max(0) as u64,
            })
            .collect(),
    };
    let routed = publisher.publish(Uuid::now_v7(), SESSIONS_ENDED, &announcement).await?;
    if !routed {
        // Deleted behind our back (or never declared on this broker): followers declare it
        // too, but nobody may be following yet.
        let channel = broker.channel().await?;
        declare_stream(&channel, broker.events_exchange()).await?;
        let _ = channel.close(200, "declared".into()).await;
        return Err(AnnounceError::Unrouted);
    }
    let ids: Vec<Uuid> = rows.iter().map(|(id, _)| *id).collect();
    sqlx::query("UPDATE ended_sessions SET announced_at = now() WHERE family_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(sessions = ids.len(), "announced ended sessions");
    Ok(ids.len())
}
