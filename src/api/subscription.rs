//! Subscriptions (WebSocket at `/graphql/ws`).
use async_graphql::{Context, Subscription, ID};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{access, app, audit::AuditEvent, errors::ApiResult, workspace::Workspace};
use crate::{authz::Capability, events::Event, store};

/// Live updates.
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every audit event appended to a workspace from now on, whichever process wrote it.
    /// Capability `audit.read`, checked when subscribing.
    async fn audit_event_appended(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = AuditEvent>> {
        let workspace = Workspace::parse_id(&workspace_id).api()?;
        access(ctx)
            .require(workspace, Capability::AuditRead)
            .await
            .api()?;
        let app = app(ctx).clone();
        // Subscribe before returning so nothing committed after this point is missed.
        let rx = app.events.subscribe();
        Ok(futures_util::stream::unfold(
            (rx, app),
            move |(mut rx, app)| async move {
                loop {
                    match rx.recv().await {
                        Ok(Event::AuditAppended {
                            workspace_id: Some(ws),
                            event_id,
                        }) if ws == workspace.0 => {
                            let loaded = match app.db.conn().await {
                                Ok(mut conn) => {
                                    store::audit::list_events_by_ids(&mut conn, &[ws], &[event_id])
                                        .await
                                }
                                Err(err) => Err(err),
                            };
                            match loaded {
                                Ok(rows) => {
                                    if let Some(row) = rows.into_iter().next() {
                                        return Some((AuditEvent(row), (rx, app)));
                                    }
                                }
                                Err(err) => {
                                    tracing::warn!(error = %err, "subscription could not load event")
                                }
                            }
                        }
                        Ok(_) => continue,
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!(skipped = n, "audit subscriber lagged behind");
                            continue;
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            },
        ))
    }
}
