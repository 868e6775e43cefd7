//! Workers: claim queued operation runs (`FOR UPDATE SKIP LOCKED`), hold a lease they renew
//! while working, report progress as they go, and finish every run SUCCEEDED, FAILED or
//! CANCELLED. A run whose worker died is picked up again when its lease expires, at most
//! `max_attempts` times, then FAILED: no run stays RUNNING forever.
use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::json;
use tokio::sync::watch;
use uuid::Uuid;

use crate::{
    domain::ids::{TenantId, WorkspaceId},
    error::{AppError, AppResult},
    events::{Event, EventBus},
    providers::export_dir::resolve_under_root,
    service::{
        inventory::{sync_inventory, Control, Progress, SyncOutcome, SyncRequest},
        operations::kinds,
        AppContext,
    },
    store::{self, operation_runs::OperationRunRow},
};

/// Sends a run-changed event right away (outside any transaction).
async fn announce(app: &AppContext, run: &OperationRunRow) {
    if let Ok(mut conn) = app.db.conn().await {
        let event = Event::RunUpdated {
            workspace_id: run.workspace_id,
            run_id: run.id,
        };
        if let Err(err) = crate::events::notify(&mut conn, &event).await {
            tracing::warn!(error = %err, run.id = %run.id, "could not announce run update");
        }
    }
}

/// Writes progress to the run at most every 100 ms (and always at the end of work).
pub struct RunReporter {
    app: Arc<AppContext>,
    run: OperationRunRow,
    worker: String,
    last: Option<Instant>,
    observer: Option<Observer>,
}

/// Sees every progress report (the CLI's progress bar).
pub type Observer = Box<dyn FnMut(usize, usize, &str) + Send>;

impl RunReporter {
    pub fn new(
        app: Arc<AppContext>,
        run: OperationRunRow,
        worker: String,
        observer: Option<Observer>,
    ) -> Self {
        Self {
            app,
            run,
            worker,
            last: None,
            observer,
        }
    }
}

#[async_trait::async_trait]
impl Progress for RunReporter {
    async fn report(
        &mut self,
        processed: usize,
        total: usize,
        message: &str,
    ) -> AppResult<Control> {
        if let Some(observe) = self.observer.as_mut() {
            observe(processed, total, message);
        }
        let due = self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
            || processed == total;
        if !due {
            return Ok(Control::Continue);
        }
        self.last = Some(Instant::now());
        let mut conn = self.app.db.conn().await?;
        let state = store::operation_runs::update_progress(
            &mut conn,
            self.run.id,
            &self.worker,
            i32::try_from(processed).unwrap_or(i32::MAX),
            i32::try_from(total).ok(),
            message,
        )
        .await?;
        drop(conn);
        announce(&self.app, &self.run).await;
        match state {
            Some(false) => Ok(Control::Continue),
            Some(true) => Ok(Control::Cancel),
            // The lease was lost (another worker took over): stop without touching the run.
            None => Err(AppError::Conflict("lease lost".into())),
        }
    }
}

/// Executes a claimed run to its end.
pub async fn execute_run(app: Arc<AppContext>, run: OperationRunRow, worker: String) {
    execute_run_observed(app, run, worker, None).await;
}

/// Executes a claimed run to its end, showing progress to `observer`.
pub async fn execute_run_observed(
    app: Arc<AppContext>,
    run: OperationRunRow,
    worker: String,
    observer: Option<Observer>,
) {
    let run_id = run.id;
    tracing::info!(run.id = %run_id, run.kind = %run.kind, run.attempt = run.attempt, "run started");
    let started = Instant::now();
    // Renew the lease while working.
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let renewer = {
        let app = app.clone();
        let worker = worker.clone();
        let lease = app.jobs.lease;
        tokio::spawn(async move {
            let every = (lease / 3).max(Duration::from_millis(50));
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop_rx.changed() => return,
                }
                let renewed = match app.db.conn().await {
                    Ok(mut conn) => {
                        store::operation_runs::renew_lease(
                            &mut conn,
                            run_id,
                            &worker,
                            lease.as_secs_f64(),
                        )
                        .await
                    }
                    Err(e) => Err(e),
                };
                match renewed {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, run.id = %run_id, "lease renewal failed")
                    }
                }
            }
        })
    };
    let mut reporter = RunReporter::new(app.clone(), run.clone(), worker.clone(), observer);
    let result = match run.kind.as_str() {
        kinds::INVENTORY_SYNC => run_inventory_sync(&app, &run, &mut reporter).await,
        kinds::DRIFT_EVALUATION => run_drift_evaluation(&app, &run, &mut reporter).await,
        kinds::EXCEPTION_EXPIRY => crate::service::exceptions::sweep_expired(
            &app,
            WorkspaceId(run.workspace_id),
            &run.initiated_by,
        )
        .await
        .map(|o| SyncOutcome {
            summary: Some(o.summary()),
            ..Default::default()
        }),
        kinds::EVIDENCE_PACK_BUILD => {
            crate::service::evidence::build_evidence_pack(&app, &run, Some(&worker), &mut reporter)
                .await
                .map(|o| SyncOutcome {
                    cancelled: o.cancelled,
                    summary: Some(o.summary),
                    ..Default::default()
                })
        }
        other => Err(AppError::bad_input(
            "kind",
            format!("unknown run kind {other}"),
        )),
    };
    let _ = stop_tx.send(true);
    let _ = renewer.await;

    let (status, message, error, outcome) = match result {
        Ok(o) if o.cancelled => ("CANCELLED", "cancelled".to_string(), None, o),
        Ok(o) if o.summary.is_some() => ("SUCCEEDED", o.summary.clone().unwrap_or_default(), None, o),
        Ok(o) => (
            "SUCCEEDED",
            format!(
                "{} file(s): {} created, {} updated, {} unchanged, {} deleted, {} restored, {} warning(s)",
                o.files, o.counts.created, o.counts.updated, o.counts.unchanged, o.counts.deleted, o.counts.restored, o.warnings.len()
            ),
            None,
            o,
        ),
        Err(AppError::Conflict(m)) if m == "lease lost" => {
            tracing::warn!(run.id = %run_id, "lease lost; another worker owns the run now");
            return;
        }
        Err(err) => {
            let shown = match &err {
                AppError::Internal(_) | AppError::DatabaseUnavailable(_) => {
                    tracing::error!(error = %err, run.id = %run_id, "run failed");
                    "internal error; see the server log".to_string()
                }
                other => other.to_string(),
            };
            ("FAILED", format!("failed: {shown}"), Some(shown), SyncOutcome::default())
        }
    };
    let warnings = json!(outcome.warnings);
    let finished = match app.db.conn().await {
        Ok(mut conn) => {
            store::operation_runs::finish_run(
                &mut conn,
                run_id,
                &worker,
                status,
                outcome.counts,
                &warnings,
                &message,
                error.as_deref(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match finished {
        Ok(Some(row)) => {
            tracing::info!(run.id = %run_id, run.status = status, duration_ms = started.elapsed().as_millis() as u64, "run finished");
            announce(&app, &row).await;
            // Every successful sync of a tenant with assigned baselines is evaluated.
            if row.kind == kinds::INVENTORY_SYNC && status == "SUCCEEDED" {
                if let Some(tenant) = row.tenant_id {
                    let queued = crate::service::drift::queue_evaluation(
                        &app,
                        WorkspaceId(row.workspace_id),
                        TenantId(tenant),
                        crate::service::drift::SYSTEM_ACTOR,
                    )
                    .await;
                    if let Err(err) = queued {
                        tracing::error!(error = %err, run.id = %run_id, "could not queue the drift evaluation after a sync");
                    }
                }
            }
        }
        Ok(None) => tracing::warn!(run.id = %run_id, "run was taken over before it finished"),
        Err(err) => {
            tracing::error!(error = %err, run.id = %run_id, "could not record the end of a run")
        }
    }
}

async fn run_inventory_sync(
    app: &Arc<AppContext>,
    run: &OperationRunRow,
    reporter: &mut RunReporter,
) -> AppResult<SyncOutcome> {
    let tenant_id = run
        .tenant_id
        .map(TenantId)
        .ok_or_else(|| AppError::bad_input("tenantId", "the run names no tenant"))?;
    let workspace = WorkspaceId(run.workspace_id);
    let tenant = {
        let mut conn = app.db.conn().await?;
        store::tenants::find_tenant(&mut conn, workspace, tenant_id)
            .await?
            .ok_or_else(|| AppError::not_found("tenant"))?
    };
    // CLI imports name their folder (trusted: the operator holds the database credentials);
    // a CLI run is never resumed by a server worker, which must not read outside the root.
    // API runs use the tenant's connection, re-checked now under the workspace's own
    // subtree of the import root (a symlink may have changed since it was configured).
    let dir = match run.params.get("path").and_then(|p| p.as_str()) {
        Some(_) if run.attempt > 1 => {
            return Err(AppError::bad_input(
                "run",
                "a command-line import was interrupted; run `tenantatlas import` again",
            ))
        }
        Some(path) => std::path::PathBuf::from(path),
        None => {
            let path = tenant.export_path.clone().ok_or_else(|| {
                AppError::bad_input("tenantId", "the tenant has no provider connection")
            })?;
            let root = crate::service::operations::workspace_import_root(app, workspace).await?;
            tokio::task::spawn_blocking(move || resolve_under_root(&root, &path))
                .await
                .map_err(AppError::internal)?
                .map_err(|e| {
                    AppError::bad_input("path", format!("export directory refused: {}", e.0))
                })?
        }
    };
    let confirm: BTreeSet<String> = run
        .params
        .get("confirmEmptyTypes")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    sync_inventory(
        app,
        SyncRequest {
            workspace,
            tenant: tenant_id,
            dir,
            confirm_empty_types: confirm,
            run: Some(run.id),
            actor: run.initiated_by.clone(),
        },
        reporter,
    )
    .await
}

async fn run_drift_evaluation(
    app: &Arc<AppContext>,
    run: &OperationRunRow,
    reporter: &mut RunReporter,
) -> AppResult<SyncOutcome> {
    let tenant = run
        .tenant_id
        .map(TenantId)
        .ok_or_else(|| AppError::bad_input("tenantId", "the run names no tenant"))?;
    let outcome = crate::service::drift::evaluate_tenant(
        app,
        WorkspaceId(run.workspace_id),
        tenant,
        Some(run.id),
        &run.initiated_by,
        reporter,
    )
    .await?;
    Ok(SyncOutcome {
        cancelled: outcome.cancelled,
        summary: Some(outcome.summary()),
        ..Default::default()
    })
}

/// Claims and runs work until `shutdown` fires; wakes on queued-run events and polls for
/// abandoned runs every `poll_interval`.
async fn worker_loop(
    app: Arc<AppContext>,
    events: EventBus,
    name: String,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut rx = events.subscribe_work();
    let mut last_expiry_check: Option<Instant> = None;
    let mut tick = tokio::time::interval(app.jobs.poll_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Exceptions expire by time, not by an event: look for due ones now and then.
        if last_expiry_check.is_none_or(|t| t.elapsed() >= app.jobs.expiry_check_interval) {
            last_expiry_check = Some(Instant::now());
            if let Err(err) = crate::service::exceptions::schedule_sweeps(&app).await {
                tracing::warn!(error = %err, worker = %name, "could not schedule exception expiry sweeps");
            }
        }
        loop {
            if *shutdown.borrow() {
                return;
            }
            let claimed = async {
                let mut conn = app.db.conn().await?;
                let abandoned = store::operation_runs::fail_abandoned_runs(&mut conn).await?;
                let builds: Vec<Uuid> = abandoned.iter().filter(|r| r.kind == kinds::EVIDENCE_PACK_BUILD).map(|r| r.id).collect();
                let failed_packs = store::evidence::fail_packs_of_runs(&mut conn, &builds, "the build's workers stopped responding").await?;
                crate::service::evidence::remove_scratch(&app, &failed_packs).await;
                for failed in abandoned {
                    tracing::warn!(run.id = %failed.id, "run abandoned by its workers; marked FAILED");
                    let _ = crate::events::notify(&mut conn, &Event::RunUpdated { workspace_id: failed.workspace_id, run_id: failed.id }).await;
                }
                store::operation_runs::claim_next_run(&mut conn, &name, app.jobs.lease.as_secs_f64()).await
            }
            .await;
            match claimed {
                Ok(Some(run)) => {
                    announce(&app, &run).await;
                    execute_run(app.clone(), run, name.clone()).await;
                }
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, worker = %name, "claiming work failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tick.tick() => {}
            ev = rx.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = ev {
                    return;
                }
            }
        }
    }
}

/// Starts `count` workers sharing this process's context.
pub fn spawn_workers(
    app: Arc<AppContext>,
    count: usize,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let host = Uuid::new_v4().simple().to_string();
    (0..count)
        .map(|i| {
            let name = format!("worker-{}-{i}", &host[..8]);
            tokio::spawn(worker_loop(
                app.clone(),
                app.events.clone(),
                name,
                shutdown.clone(),
            ))
        })
        .collect()
}
