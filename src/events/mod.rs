//! The event bus: `NOTIFY` out, `LISTEN` in, fan-out to subscribers.
//!
//! Services send events with [`notify`] inside their transaction, so PostgreSQL delivers them
//! only if (and when) the transaction commits. Every process keeps one dedicated `LISTEN`
//! connection (reconnecting with backoff) and re-broadcasts what arrives to its local
//! subscribers, so an event raised in one process reaches subscribers of all of them.
//! Payloads carry ids only; subscribers re-read state from the tables.
use std::{sync::Arc, time::Duration};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::{authz::Authz, error::AppResult, store::Conn};

/// The PostgreSQL channel all events travel on.
pub const CHANNEL: &str = "tenantatlas_events";

/// Something that happened, by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// An audit event was appended.
    AuditAppended {
        workspace_id: Option<Uuid>,
        event_id: Uuid,
    },
    /// Role grants changed: every process reloads its casbin rules.
    GrantsChanged,
    /// A run was queued: idle workers wake up.
    RunQueued { run_id: Uuid },
    /// A run's state changed (progress, status).
    RunUpdated { workspace_id: Uuid, run_id: Uuid },
}

/// Sends `event` on commit of the current transaction.
pub async fn notify(conn: &mut Conn, event: &Event) -> AppResult<()> {
    let payload = serde_json::to_string(event).map_err(crate::error::AppError::internal)?;
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<diesel::sql_types::Text, _>(CHANNEL)
        .bind::<diesel::sql_types::Text, _>(payload)
        .execute(conn)
        .await?;
    Ok(())
}

/// Local fan-out of events received from PostgreSQL.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    /// Queued-run wake-ups for workers, apart from subscribers.
    work: broadcast::Sender<Uuid>,
    connected: watch::Receiver<bool>,
    connected_tx: Arc<watch::Sender<bool>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        let (work, _) = broadcast::channel(256);
        let (connected_tx, connected) = watch::channel(false);
        Self {
            tx,
            work,
            connected,
            connected_tx: Arc::new(connected_tx),
        }
    }

    /// A receiver of every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Wake-ups for workers: the id of every queued run.
    pub fn subscribe_work(&self) -> broadcast::Receiver<Uuid> {
        self.work.subscribe()
    }

    /// How many local subscribers are attached (tests wait on it instead of sleeping).
    pub fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Whether the LISTEN connection is up.
    pub fn is_listening(&self) -> bool {
        *self.connected.borrow()
    }

    /// Waits until the LISTEN connection is up (at most `timeout`).
    pub async fn wait_listening(&self, timeout: Duration) -> bool {
        let mut rx = self.connected.clone();
        tokio::time::timeout(timeout, rx.wait_for(|up| *up))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Runs the LISTEN loop until `shutdown` fires.
    pub fn spawn_listener(
        &self,
        database_url: String,
        authz: Arc<Authz>,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let bus = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                if *shutdown.borrow() {
                    break;
                }
                match bus.listen_once(&database_url, &authz, &mut shutdown).await {
                    Ok(()) => break,
                    Err(err) => {
                        let _ = bus.connected_tx.send(false);
                        tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "event listener lost its connection");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = shutdown.changed() => break,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
            let _ = bus.connected_tx.send(false);
        })
    }

    async fn listen_once(
        &self,
        database_url: &str,
        authz: &Authz,
        shutdown: &mut watch::Receiver<bool>,
    ) -> AppResult<()> {
        let mut conn = AsyncPgConnection::establish(database_url).await?;
        conn.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        // Rules may have changed while we were not listening.
        authz.reload().await?;
        let _ = self.connected_tx.send(true);
        let mut stream = std::pin::pin!(conn.notifications_stream());
        loop {
            tokio::select! {
                _ = shutdown.changed() => return Ok(()),
                next = stream.next() => match next {
                    Some(Ok(n)) => {
                        let Ok(event) = serde_json::from_str::<Event>(&n.payload) else {
                            tracing::warn!(channel = %n.channel, "ignoring malformed event payload");
                            continue;
                        };
                        if event == Event::GrantsChanged {
                            if let Err(err) = authz.reload().await {
                                tracing::error!(error = %err, "reloading authorization rules failed");
                            }
                        }
                        if let Event::RunQueued { run_id } = &event {
                            let _ = self.work.send(*run_id);
                        }
                        let _ = self.tx.send(event);
                    }
                    Some(Err(err)) => return Err(err.into()),
                    None => return Err(crate::error::AppError::DatabaseUnavailable("notification stream ended".into())),
                }
            }
        }
    }
}
