//! Subscriptions (WebSocket at `/graphql/ws`).
use async_graphql::{Context, Subscription, ID};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::{
    access, app,
    audit::AuditEvent,
    errors::ApiResult,
    operation_run::{parse_run_id, reload_run, OperationRun},
    workspace::Workspace,
};
use crate::{authz::Capability, domain::ids::WorkspaceId, error::AppError, events::Event, store};

/// Live updates.
pub struct SubscriptionRoot;

/// Ends `stream` as soon as the caller loses `capability` in `workspace` (a revoke, an
/// expired token): access is checked again before every item.
fn guarded<S, T>(
    ctx: &Context<'_>,
    stream: S,
    workspace: WorkspaceId,
    capability: Capability,
) -> impl Stream<Item = T> + use<S, T>
where
    S: Stream<Item = T> + Send + 'static,
    T: Send + 'static,
{
    use futures_util::StreamExt;
    let caller = ctx
        .data_unchecked::<std::sync::Arc<super::RequestState>>()
        .clone();
    stream
        .then(move |item| {
            let caller = caller.clone();
            async move {
                (
                    caller.access.require(workspace, capability).await.is_ok(),
                    item,
                )
            }
        })
        .take_while(|(allowed, _)| futures_util::future::ready(*allowed))
        .map(|(_, item)| item)
}

/// The caller's state, kept by a stream to re-check access on every event.
fn state_arc(ctx: &Context<'_>) -> std::sync::Arc<super::RequestState> {
    ctx.data_unchecked::<std::sync::Arc<super::RequestState>>()
        .clone()
}

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
        let stream = futures_util::stream::unfold((rx, app), move |(mut rx, app)| async move {
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
        });
        Ok(guarded(ctx, stream, workspace, Capability::AuditRead))
    }

    /// A run's state: first the current state, then every change, completing after the
    /// final state (SUCCEEDED, FAILED, CANCELLED), whichever process runs it. Capability
    /// `operation_run.read`, checked when subscribing.
    async fn operation_run_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = OperationRun>> {
        // Authenticate before looking anything up.
        access(ctx).user_email().api()?;
        let run_id = parse_run_id(&id, "id").api()?;
        let app = app(ctx).clone();
        let workspace = {
            let mut conn = app.db.conn().await.api()?;
            store::operation_runs::find_run_workspace(&mut conn, run_id)
                .await
                .api()?
        };
        let Some(workspace) = workspace else {
            return Err(super::errors::to_graphql(AppError::not_found(
                "operation run",
            )));
        };
        access(ctx)
            .require(WorkspaceId(workspace), Capability::OperationRunRead)
            .await
            .map_err(|e| match e {
                AppError::NotFound(_) => AppError::not_found("operation run"),
                other => other,
            })
            .api()?;
        // Subscribe first, then read the snapshot: nothing between the two is lost.
        let rx = app.events.subscribe();
        let snapshot = reload_run(&app, workspace, run_id).await.api()?;
        struct St {
            rx: tokio::sync::broadcast::Receiver<Event>,
            app: std::sync::Arc<crate::service::AppContext>,
            pending: Option<store::operation_runs::OperationRunRow>,
            last: Option<store::operation_runs::OperationRunRow>,
            done: bool,
        }
        let caller = state_arc(ctx);
        let st = St {
            rx,
            app,
            pending: snapshot,
            last: None,
            done: false,
        };
        let stream = futures_util::stream::unfold(st, move |mut st| {
            let caller = caller.clone();
            async move {
                loop {
                    if st.done {
                        return None;
                    }
                    if caller
                        .access
                        .require(WorkspaceId(workspace), Capability::OperationRunRead)
                        .await
                        .is_err()
                    {
                        return None;
                    }
                    if let Some(row) = st.pending.take() {
                        if st.last.as_ref() != Some(&row) {
                            st.done = row.is_final();
                            st.last = Some(row.clone());
                            return Some((OperationRun(row), st));
                        }
                    }
                    match st.rx.recv().await {
                        Ok(Event::RunUpdated { run_id: id, .. }) if id == run_id => {
                            match reload_run(&st.app, workspace, run_id).await {
                                Ok(row) => st.pending = row,
                                Err(err) => {
                                    tracing::warn!(error = %err, "subscription could not reload run")
                                }
                            }
                        }
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => {
                            // Missed events: re-read the state instead.
                            if let Ok(row) = reload_run(&st.app, workspace, run_id).await {
                                st.pending = row;
                            }
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        });
        Ok(guarded(
            ctx,
            stream,
            WorkspaceId(workspace),
            Capability::OperationRunRead,
        ))
    }

    /// Every run change in a workspace, for live dashboards. Capability
    /// `operation_run.read`, checked when subscribing.
    async fn operation_runs_updated(
        &self,
        ctx: &Context<'_>,
        workspace_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = OperationRun>> {
        let workspace = Workspace::parse_id(&workspace_id).api()?;
        access(ctx)
            .require(workspace, Capability::OperationRunRead)
            .await
            .api()?;
        let app = app(ctx).clone();
        let caller = state_arc(ctx);
        let rx = app.events.subscribe();
        let stream = futures_util::stream::unfold((rx, app), move |(mut rx, app)| {
            let caller = caller.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok(Event::RunUpdated {
                            workspace_id,
                            run_id,
                        }) if workspace_id == workspace.0 => {
                            if caller
                                .access
                                .require(workspace, Capability::OperationRunRead)
                                .await
                                .is_err()
                            {
                                return None;
                            }
                            match reload_run(&app, workspace.0, run_id).await {
                                Ok(Some(row)) => return Some((OperationRun(row), (rx, app))),
                                Ok(None) => continue,
                                Err(err) => {
                                    tracing::warn!(error = %err, "subscription could not reload run")
                                }
                            }
                        }
                        Ok(_) => continue,
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!(skipped = n, "run subscriber lagged behind");
                            continue;
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        });
        Ok(guarded(
            ctx,
            stream,
            workspace,
            Capability::OperationRunRead,
        ))
    }
}
