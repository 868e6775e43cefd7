//! Drift evaluation: compares a tenant's policies with every baseline assigned to it and
//! reconciles the findings (an operation run of kind DRIFT_EVALUATION).
//!
//! An evaluation reads, compares and writes inside one transaction that holds the
//! tenant's findings lock, so two evaluations of a tenant never interleave and a finding
//! is never duplicated (its fingerprint is also unique per workspace).
use std::collections::{HashMap, HashSet};

use chrono::Utc;
use diesel_async::AsyncConnection;
use serde_json::json;
use uuid::Uuid;

use super::{
    inventory::{Control, Progress},
    operations::{authorize_tenant, enqueue_as, kinds},
    record, AppContext, Audit,
};
use crate::{
    authz::{Access, Capability},
    domain::{
        contracts::find_contract,
        drift::{
            comparable_settings, match_items, normalize_name, template_id, Candidate, Comparison,
            DriftKind, ExpectedPolicy, ItemKey, Match,
        },
        findings::{fingerprint, title},
        ids::{TenantId, WorkspaceId},
    },
    error::{AppError, AppResult},
    store::{
        self,
        baselines::SnapshotSource,
        findings::{NewFinding, NewHistory},
        operation_runs::OperationRunRow,
        policies::parse_stored_payload,
    },
};

/// The actor of evaluations the system starts (after syncs, assignments, mappings).
pub const SYSTEM_ACTOR: &str = "system:drift";

/// What an evaluation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EvaluationOutcome {
    pub baselines: usize,
    pub compared: usize,
    pub new: usize,
    pub reopened: usize,
    pub resolved: usize,
    pub still_open: usize,
    pub cancelled: bool,
}

impl EvaluationOutcome {
    pub fn summary(&self) -> String {
        format!(
            "compared {} polic(ies) with {} baseline(s): {} new finding(s), {} reopened, {} resolved, {} still present",
            self.compared, self.baselines, self.new, self.reopened, self.resolved, self.still_open
        )
    }
}

/// Queues an evaluation of a tenant if it has assigned baselines and none is waiting
/// already (one queued evaluation sees everything that happened before it starts).
pub async fn queue_evaluation(
    app: &AppContext,
    workspace: WorkspaceId,
    tenant: TenantId,
    actor: &str,
) -> AppResult<Option<OperationRunRow>> {
    let mut conn = app.db.conn().await?;
    let assigned = store::baselines::list_tenant_assignments(&mut conn, workspace, tenant).await?;
    if assigned.is_empty() {
        return Ok(None);
    }
    let active = store::operation_runs::find_active_run(
        &mut conn,
        workspace,
        tenant.0,
        kinds::DRIFT_EVALUATION,
    )
    .await?;
    if active.is_some_and(|r| r.status == "QUEUED") {
        return Ok(None);
    }
    drop(conn);
    enqueue_as(
        app,
        actor.to_string(),
        workspace,
        Some(tenant.0),
        kinds::DRIFT_EVALUATION,
        json!({}),
    )
    .await
    .map(Some)
}

/// Queues a drift evaluation on demand (capability `drift.evaluate`).
pub async fn start_drift_evaluation(
    app: &AppContext,
    access: &Access,
    tenant: TenantId,
) -> AppResult<OperationRunRow> {
    let row = authorize_tenant(app, access, tenant, Capability::DriftEvaluate).await?;
    let workspace = row.workspace_id();
    let mut conn = app.db.conn().await?;
    if store::baselines::list_tenant_assignments(&mut conn, workspace, tenant)
        .await?
        .is_empty()
    {
        return Err(AppError::bad_input(
            "tenantId",
            "no baseline is assigned to the tenant; assign one first (assignBaseline)",
        ));
    }
    if let Some(active) = store::operation_runs::find_active_run(
        &mut conn,
        workspace,
        tenant.0,
        kinds::DRIFT_EVALUATION,
    )
    .await?
    {
        if active.status == "QUEUED" {
            return Err(AppError::Conflict(
                "a drift evaluation of this tenant is already queued; follow it in Workspace.operationRuns"
                    .into(),
            ));
        }
    }
    drop(conn);
    enqueue_as(
        app,
        access.actor(),
        workspace,
        Some(tenant.0),
        kinds::DRIFT_EVALUATION,
        json!({}),
    )
    .await
}

/// One baseline policy ready for comparison.
struct PreparedItem {
    lineage: Uuid,
    baseline: Uuid,
    display_name: String,
    key: ItemKey,
    expected: Option<ExpectedPolicy>,
}

/// Compares, in memory: returns the detected findings and, per baseline, (checks, weight).
fn compare_all(
    workspace: WorkspaceId,
    tenant: TenantId,
    items: &[PreparedItem],
    policies: &[SnapshotSource],
    now: chrono::DateTime<Utc>,
) -> (Vec<NewFinding>, HashMap<Uuid, (u32, u64)>, usize) {
    let parsed: Vec<Option<serde_json::Value>> = policies
        .iter()
        .map(|p| parse_stored_payload(&p.payload).ok())
        .collect();
    let candidates: Vec<Candidate> = policies
        .iter()
        .zip(&parsed)
        .map(|(p, payload)| Candidate {
            id: p.policy_id,
            contract_type: p.contract_type.clone(),
            match_name: normalize_name(&p.display_name),
            template_id: payload.as_ref().and_then(template_id),
            active: p.lifecycle_state == "ACTIVE",
        })
        .collect();
    let index: HashMap<Uuid, usize> = policies
        .iter()
        .enumerate()
        .map(|(i, p)| (p.policy_id, i))
        .collect();
    let mut settings_cache: HashMap<usize, crate::domain::drift::Settings> = HashMap::new();
    let mut out = Vec::new();
    let mut per_baseline: HashMap<Uuid, (u32, u64)> = HashMap::new();
    let mut compared = 0;
    // Matching is per baseline: a tenant policy may match one policy of each baseline.
    let mut by_baseline: HashMap<Uuid, Vec<&PreparedItem>> = HashMap::new();
    for item in items {
        by_baseline.entry(item.baseline).or_default().push(item);
    }
    for (baseline, its) in by_baseline {
        let keys: Vec<ItemKey> = its.iter().map(|i| i.key.clone()).collect();
        let matches = match_items(&keys, &candidates);
        let totals = per_baseline.entry(baseline).or_default();
        for (item, m) in its.iter().zip(matches) {
            let Some(expected) = &item.expected else {
                continue;
            };
            compared += 1;
            let (policy_id, comparison): (Option<Uuid>, Comparison) = match m {
                Match::Missing => (
                    None,
                    expected.absent(DriftKind::MissingPolicy, None),
                ),
                Match::Ambiguous(ids) => (
                    None,
                    expected.absent(
                        DriftKind::AmbiguousMatch,
                        Some(json!(ids
                            .iter()
                            .filter_map(|id| index.get(id).map(|i| &policies[*i]))
                            .map(|p| json!({"displayName": p.display_name, "lifecycleState": p.lifecycle_state}))
                            .collect::<Vec<_>>())),
                    ),
                ),
                Match::Found(id, _) => {
                    let Some(&i) = index.get(&id) else { continue };
                    let p = &policies[i];
                    if p.lifecycle_state != "ACTIVE" {
                        (
                            Some(id),
                            expected.absent(
                                DriftKind::GhostPolicy,
                                Some(json!({"displayName": p.display_name, "lifecycleState": p.lifecycle_state})),
                            ),
                        )
                    } else {
                        let settings = settings_cache.entry(i).or_insert_with(|| {
                            parsed[i]
                                .as_ref()
                                .map(|payload| comparable_settings(expected.contract, payload))
                                .unwrap_or_default()
                        });
                        (Some(id), expected.compare(settings))
                    }
                }
            };
            totals.0 = totals.0.saturating_add(comparison.check_count);
            totals.1 = totals.1.saturating_add(comparison.check_weight);
            for d in comparison.drifts {
                let path = d.path.as_deref();
                out.push(NewFinding {
                    workspace_id: workspace.0,
                    tenant_id: tenant.0,
                    baseline_id: baseline,
                    lineage_id: item.lineage,
                    policy_id,
                    fingerprint: fingerprint(tenant.0, baseline, item.lineage, d.kind, path),
                    kind: d.kind.as_str().to_string(),
                    severity: d.severity.as_str().to_string(),
                    severity_rank: d.severity.rank(),
                    weight: i64::try_from(d.weight).unwrap_or(i64::MAX),
                    title: title(d.kind, &item.display_name, path),
                    setting_path: d.path,
                    expected_value: d.expected.or_else(|| {
                        matches!(d.kind, DriftKind::MissingPolicy | DriftKind::GhostPolicy | DriftKind::AmbiguousMatch)
                            .then(|| json!({"displayName": item.display_name, "contractType": expected.contract.collection}))
                    }),
                    actual_value: d.actual,
                    first_seen_at: now,
                    last_seen_at: now,
                });
            }
        }
    }
    (out, per_baseline, compared)
}

/// Evaluates one tenant against its assigned baselines and reconciles its findings.
pub async fn evaluate_tenant(
    app: &AppContext,
    workspace: WorkspaceId,
    tenant: TenantId,
    run: Option<Uuid>,
    actor: &str,
    progress: &mut dyn Progress,
) -> AppResult<EvaluationOutcome> {
    if progress
        .report(0, 1, "reading baselines and policies")
        .await?
        == Control::Cancel
    {
        return Ok(EvaluationOutcome {
            cancelled: true,
            ..Default::default()
        });
    }
    let mut conn = app.db.conn().await?;
    let actor = actor.to_string();
    let result = conn
        .transaction::<_, AppError, _>(async |conn| {
            store::findings::lock_tenant_findings(conn, tenant).await?;
            let assignments =
                store::baselines::list_tenant_assignments(conn, workspace, tenant).await?;
            let baseline_ids: Vec<Uuid> = assignments.iter().map(|a| a.baseline_id).collect();
            let baselines =
                store::baselines::list_baselines_by_ids(conn, &[workspace.0], &baseline_ids)
                    .await?;
            let keys: Vec<(Uuid, i32)> = baselines
                .iter()
                .map(|b| (b.id, b.current_version))
                .collect();
            let item_rows =
                store::baselines::list_items_by_versions(conn, &[workspace.0], &keys).await?;
            let item_ids: Vec<Uuid> = item_rows.iter().map(|i| i.id).collect();
            let payloads: HashMap<Uuid, String> =
                store::baselines::list_item_payloads(conn, workspace, &item_ids)
                    .await?
                    .into_iter()
                    .collect();
            let mappings: HashMap<(Uuid, Uuid), Uuid> =
                store::baselines::list_tenant_mappings(conn, workspace, tenant)
                    .await?
                    .into_iter()
                    .map(|(b, l, p)| ((b, l), p))
                    .collect();
            let policies =
                store::baselines::list_tenant_snapshots(conn, workspace, tenant, false).await?;
            let items: Vec<PreparedItem> = item_rows
                .iter()
                .map(|row| {
                    let expected = find_contract(&row.contract_type).and_then(|contract| {
                        let payload = parse_stored_payload(payloads.get(&row.id)?).ok()?;
                        Some(ExpectedPolicy::new(
                            contract,
                            &payload,
                            super::baselines::item_rules(row),
                        ))
                    });
                    PreparedItem {
                        lineage: row.lineage_id,
                        baseline: row.baseline_id,
                        display_name: row.display_name.clone(),
                        key: ItemKey {
                            contract_type: row.contract_type.clone(),
                            match_name: row.match_name.clone(),
                            template_id: row.template_id.clone(),
                            mapped: mappings.get(&(row.baseline_id, row.lineage_id)).copied(),
                        },
                        expected,
                    }
                })
                .collect();
            let total = items.len();
            if progress
                .report(0, total, &format!("comparing {total} baseline polic(ies)"))
                .await?
                == Control::Cancel
            {
                return Err(AppError::Conflict("cancelled".into()));
            }
            let now = Utc::now();
            let (detected, per_baseline, compared) = tokio::task::spawn_blocking(move || {
                compare_all(workspace, tenant, &items, &policies, now)
            })
            .await
            .map_err(AppError::internal)?;

            let existing =
                store::findings::list_tenant_finding_states(conn, workspace, tenant).await?;
            let by_fingerprint: HashMap<&str, &store::findings::FindingState> = existing
                .iter()
                .map(|f| (f.fingerprint.as_str(), f))
                .collect();
            let mut outcome = EvaluationOutcome {
                baselines: baselines.len(),
                compared,
                ..Default::default()
            };
            let mut to_insert: Vec<NewFinding> = Vec::new();
            let mut to_refresh: Vec<(Uuid, &NewFinding)> = Vec::new();
            let mut reopen: Vec<Uuid> = Vec::new();
            let mut seen: HashSet<Uuid> = HashSet::new();
            let mut inserted_fps: HashSet<String> = HashSet::new();
            for f in &detected {
                match by_fingerprint.get(f.fingerprint.as_str()) {
                    Some(old) => {
                        if !seen.insert(old.id) {
                            continue;
                        }
                        to_refresh.push((old.id, f));
                        if old.status == "RESOLVED" {
                            reopen.push(old.id);
                        } else {
                            outcome.still_open += 1;
                        }
                    }
                    None => {
                        if inserted_fps.insert(f.fingerprint.clone()) {
                            to_insert.push(f.clone());
                        }
                    }
                }
            }
            let resolve: Vec<Uuid> = existing
                .iter()
                .filter(|f| f.status != "RESOLVED" && !seen.contains(&f.id))
                .map(|f| f.id)
                .collect();
            let new_ids = store::findings::insert_findings(conn, &to_insert).await?;
            store::findings::refresh_findings(conn, workspace, &to_refresh, now).await?;
            store::findings::set_statuses(conn, workspace, &reopen, "OPEN", None, now).await?;
            store::findings::set_statuses(
                conn,
                workspace,
                &resolve,
                "RESOLVED",
                Some("no longer detected"),
                now,
            )
            .await?;
            let history =
                |id: Uuid, action: &str, from: Option<&str>, to: &str, comment: Option<&str>| {
                    NewHistory {
                        finding_id: id,
                        workspace_id: workspace.0,
                        action: action.to_string(),
                        actor: actor.clone(),
                        from_status: from.map(str::to_string),
                        to_status: Some(to.to_string()),
                        comment: comment.map(str::to_string),
                        at: now,
                    }
                };
            let mut rows: Vec<NewHistory> = Vec::new();
            rows.extend(
                new_ids
                    .iter()
                    .map(|id| history(*id, "finding.detect", None, "OPEN", None)),
            );
            rows.extend(reopen.iter().map(|id| {
                history(
                    *id,
                    "finding.reopen",
                    Some("RESOLVED"),
                    "OPEN",
                    Some("detected again"),
                )
            }));
            let status_of: HashMap<Uuid, &str> =
                existing.iter().map(|f| (f.id, f.status.as_str())).collect();
            rows.extend(resolve.iter().map(|id| {
                history(
                    *id,
                    "finding.auto_resolve",
                    status_of.get(id).copied(),
                    "RESOLVED",
                    Some("no longer detected"),
                )
            }));
            store::findings::insert_history(conn, &rows).await?;
            for a in &assignments {
                let (count, weight) = per_baseline.get(&a.baseline_id).copied().unwrap_or((0, 0));
                store::baselines::record_evaluation(
                    conn,
                    workspace,
                    a.baseline_id,
                    tenant,
                    i32::try_from(count).unwrap_or(i32::MAX),
                    i64::try_from(weight).unwrap_or(i64::MAX),
                    now,
                )
                .await?;
            }
            super::findings::refresh_compliance(conn, workspace, Some(tenant)).await?;
            outcome.new = new_ids.len();
            outcome.reopened = reopen.len();
            outcome.resolved = resolve.len();
            record(
                conn,
                Audit {
                    workspace: Some(workspace),
                    actor: actor.clone(),
                    action: "drift.evaluate",
                    target_type: "Tenant",
                    target_id: tenant.to_string(),
                    before: None,
                    after: Some(json!({
                        "operationRunId": run,
                        "baselines": baseline_ids,
                        "compared": outcome.compared,
                        "newFindingIds": new_ids,
                        "reopenedFindingIds": reopen,
                        "resolvedFindingIds": resolve,
                        "stillPresent": outcome.still_open,
                    })),
                    touches_activity: true,
                },
            )
            .await?;
            Ok(outcome)
        })
        .await;
    let outcome = match result {
        Err(AppError::Conflict(m)) if m == "cancelled" => {
            return Ok(EvaluationOutcome {
                cancelled: true,
                ..Default::default()
            })
        }
        other => other?,
    };
    progress
        .report(outcome.compared, outcome.compared, &outcome.summary())
        .await?;
    Ok(outcome)
}
