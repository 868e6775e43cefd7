//! Drift evaluation: compares a tenant's policies with every baseline assigned to it and
//! reconciles the findings (an operation run of kind DRIFT_EVALUATION).
//!
//! An evaluation reads, compares and writes inside one transaction that holds the
//! tenant's findings lock, so two evaluations of a tenant never interleave and a finding
//! is never duplicated (its fingerprint is also unique per workspace).
use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

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
            comparable_settings, match_items, normalize_name, settings_digest, template_id,
            Candidate, Comparison, DriftKind, ExpectedPolicy, ItemKey, Match, Settings,
        },
        findings::{fingerprint, title},
        ids::{TenantId, WorkspaceId},
    },
    error::{AppError, AppResult},
    store::{
        self,
        baselines::PolicyMeta,
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
            "compared {} baseline polic(ies) of {} baseline(s) with the tenant: {} new finding(s), {} reopened, {} resolved, {} still present",
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
    match enqueue_as(
        app,
        actor.to_string(),
        workspace,
        Some(tenant.0),
        kinds::DRIFT_EVALUATION,
        json!({}),
    )
    .await
    {
        Ok(run) => Ok(Some(run)),
        // Another one was queued meanwhile: it will see everything.
        Err(AppError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
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

/// Prepared baseline policies, kept per process: an item's payload never changes, so it
/// is parsed and flattened once, not once per tenant. Keyed by item id and its rules (which
/// can change in place).
#[derive(Default)]
pub struct ExpectedCache(std::sync::Mutex<HashMap<(Uuid, String), Arc<ExpectedPolicy>>>);

/// Entries kept before the cache starts over.
const CACHE_LIMIT: usize = 20_000;

impl ExpectedCache {
    fn get(&self, key: &(Uuid, String)) -> Option<Arc<ExpectedPolicy>> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: (Uuid, String), value: Arc<ExpectedPolicy>) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= CACHE_LIMIT {
                map.clear();
            }
            map.insert(key, value);
        }
    }
}

/// One baseline policy ready for comparison.
struct PreparedItem {
    lineage: Uuid,
    baseline: Uuid,
    display_name: String,
    digest: String,
    key: ItemKey,
    expected: Option<Arc<ExpectedPolicy>>,
}

/// The tenant policy matched to each item (per baseline: a tenant policy may match one
/// policy of each baseline).
fn match_all(items: &[PreparedItem], policies: &[PolicyMeta]) -> Vec<Match> {
    let candidates: Vec<Candidate> = policies
        .iter()
        .map(|p| Candidate {
            id: p.policy_id,
            contract_type: p.contract_type.clone(),
            match_name: normalize_name(&p.display_name),
            template_id: p.template_id.clone(),
            active: p.lifecycle_state == "ACTIVE",
        })
        .collect();
    let mut out = vec![Match::Missing; items.len()];
    let mut by_baseline: HashMap<Uuid, Vec<usize>> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        by_baseline.entry(item.baseline).or_default().push(i);
    }
    for idx in by_baseline.into_values() {
        let keys: Vec<ItemKey> = idx.iter().map(|i| items[*i].key.clone()).collect();
        for (i, m) in idx.into_iter().zip(match_items(&keys, &candidates)) {
            out[i] = m;
        }
    }
    out
}

/// Compares, in memory: returns the detected findings and, per baseline, (checks, weight).
fn compare_all(
    workspace: WorkspaceId,
    tenant: TenantId,
    items: &[PreparedItem],
    matches: &[Match],
    policies: &[PolicyMeta],
    settings: &HashMap<Uuid, Settings>,
    now: chrono::DateTime<Utc>,
) -> (Vec<NewFinding>, HashMap<Uuid, (u32, u64)>, usize) {
    let index: HashMap<Uuid, &PolicyMeta> = policies.iter().map(|p| (p.policy_id, p)).collect();
    let empty = Settings::new();
    let mut out = Vec::new();
    let mut per_baseline: HashMap<Uuid, (u32, u64)> = HashMap::new();
    let mut compared = 0;
    for (item, m) in items.iter().zip(matches) {
        let Some(expected) = &item.expected else {
            continue;
        };
        compared += 1;
        let (policy_id, comparison): (Option<Uuid>, Comparison) = match m {
            Match::Missing => (None, expected.absent(DriftKind::MissingPolicy, None)),
            Match::Ambiguous(ids) => (
                None,
                expected.absent(
                    DriftKind::AmbiguousMatch,
                    Some(json!(ids
                        .iter()
                        .filter_map(|id| index.get(id))
                        .map(|p| json!({"displayName": p.display_name, "lifecycleState": p.lifecycle_state}))
                        .collect::<Vec<_>>())),
                ),
            ),
            Match::Found(id, _) => {
                let Some(p) = index.get(id) else { continue };
                if p.lifecycle_state != "ACTIVE" {
                    (
                        Some(*id),
                        expected.absent(
                            DriftKind::GhostPolicy,
                            Some(json!({"displayName": p.display_name, "lifecycleState": p.lifecycle_state})),
                        ),
                    )
                } else if p.settings_digest.as_deref() == Some(item.digest.as_str()) {
                    (Some(*id), expected.unchanged())
                } else {
                    (
                        Some(*id),
                        expected.compare(settings.get(id).unwrap_or(&empty)),
                    )
                }
            }
        };
        let totals = per_baseline.entry(item.baseline).or_default();
        totals.0 = totals.0.saturating_add(comparison.check_count);
        totals.1 = totals.1.saturating_add(comparison.check_weight);
        for d in comparison.drifts {
            let path = d.path.as_deref();
            out.push(NewFinding {
                workspace_id: workspace.0,
                tenant_id: tenant.0,
                baseline_id: item.baseline,
                lineage_id: item.lineage,
                policy_id,
                fingerprint: fingerprint(tenant.0, item.baseline, item.lineage, d.kind, path),
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
    (out, per_baseline, compared)
}

/// Parses stored payloads and flattens them (CPU work, off the async threads).
async fn flatten_texts(
    texts: Vec<(Uuid, String)>,
    contracts: HashMap<Uuid, String>,
) -> AppResult<Vec<(Uuid, Settings, Option<String>)>> {
    tokio::task::spawn_blocking(move || {
        texts
            .into_iter()
            .filter_map(|(id, text)| {
                let contract = find_contract(contracts.get(&id)?)?;
                let payload = parse_stored_payload(&text).ok()?;
                Some((
                    id,
                    comparable_settings(contract, &payload),
                    template_id(&payload),
                ))
            })
            .collect()
    })
    .await
    .map_err(AppError::internal)
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
            store::findings::begin_evaluation(conn, tenant).await?;
            let assignments =
                store::baselines::list_tenant_assignments(conn, workspace, tenant).await?;
            let baseline_ids: Vec<Uuid> = assignments.iter().map(|a| a.baseline_id).collect();
            let item_rows = store::baselines::list_assigned_items(conn, workspace, tenant).await?;
            let mappings: HashMap<(Uuid, Uuid), Uuid> =
                store::baselines::list_tenant_mappings(conn, workspace, tenant)
                    .await?
                    .into_iter()
                    .map(|(b, l, p)| ((b, l), p))
                    .collect();
            // Baseline policies: prepared once per process.
            let cache_key = |row: &store::baselines::BaselineItemRow| {
                (
                    row.id,
                    format!("{}{}", row.severity_overrides, row.ignored_paths),
                )
            };
            let missing: Vec<Uuid> = item_rows
                .iter()
                .filter(|r| app.drift_cache.get(&cache_key(r)).is_none())
                .map(|r| r.id)
                .collect();
            if !missing.is_empty() {
                let texts = store::baselines::list_item_payloads(conn, workspace, &missing).await?;
                let rows: HashMap<Uuid, store::baselines::BaselineItemRow> = item_rows
                    .iter()
                    .filter(|r| missing.contains(&r.id))
                    .map(|r| (r.id, r.clone()))
                    .collect();
                let prepared = tokio::task::spawn_blocking(move || {
                    texts
                        .into_iter()
                        .filter_map(|(id, text)| {
                            let row = rows.get(&id)?;
                            let contract = find_contract(&row.contract_type)?;
                            let payload = parse_stored_payload(&text).ok()?;
                            let rules = super::baselines::item_rules(row);
                            Some((id, Arc::new(ExpectedPolicy::new(contract, &payload, rules))))
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .map_err(AppError::internal)?;
                for (id, expected) in prepared {
                    if let Some(row) = item_rows.iter().find(|r| r.id == id) {
                        app.drift_cache.put(cache_key(row), expected);
                    }
                }
            }
            let items: Vec<PreparedItem> = item_rows
                .iter()
                .map(|row| PreparedItem {
                    lineage: row.lineage_id,
                    baseline: row.baseline_id,
                    display_name: row.display_name.clone(),
                    digest: row.settings_digest.clone(),
                    key: ItemKey {
                        contract_type: row.contract_type.clone(),
                        match_name: row.match_name.clone(),
                        template_id: row.template_id.clone(),
                        mapped: mappings.get(&(row.baseline_id, row.lineage_id)).copied(),
                    },
                    expected: app.drift_cache.get(&cache_key(row)),
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

            // Tenant policies: drift metadata first; a version's is computed once.
            let mut policies =
                store::baselines::list_tenant_policy_meta(conn, workspace, tenant).await?;
            let contracts: HashMap<Uuid, String> = policies
                .iter()
                .map(|p| (p.policy_id, p.contract_type.clone()))
                .collect();
            let unknown: Vec<(Uuid, i32)> = policies
                .iter()
                .filter(|p| p.settings_digest.is_none())
                .map(|p| (p.policy_id, p.version))
                .collect();
            let mut settings: HashMap<Uuid, Settings> = HashMap::new();
            if !unknown.is_empty() {
                let texts =
                    store::policies::list_version_texts(conn, &[workspace.0], &unknown).await?;
                let mut meta = Vec::new();
                for (id, flat, template) in flatten_texts(texts, contracts.clone()).await? {
                    let digest = settings_digest(&flat);
                    if let Some(p) = policies.iter_mut().find(|p| p.policy_id == id) {
                        p.settings_digest = Some(digest.clone());
                        p.template_id = template.clone();
                        meta.push((id, p.version, digest, template));
                    }
                    settings.insert(id, flat);
                }
                store::baselines::set_version_meta(conn, workspace, &meta).await?;
            }
            let matches = match_all(&items, &policies);
            // Only policies whose digest differs from their baseline policy's are read.
            let mut need: Vec<(Uuid, i32)> = Vec::new();
            for (item, m) in items.iter().zip(&matches) {
                if let Match::Found(id, _) = m {
                    if let Some(p) = policies.iter().find(|p| p.policy_id == *id) {
                        if p.lifecycle_state == "ACTIVE"
                            && p.settings_digest.as_deref() != Some(item.digest.as_str())
                            && !settings.contains_key(id)
                            && !need.contains(&(p.policy_id, p.version))
                        {
                            need.push((p.policy_id, p.version));
                        }
                    }
                }
            }
            if !need.is_empty() {
                let texts =
                    store::policies::list_version_texts(conn, &[workspace.0], &need).await?;
                for (id, flat, _) in flatten_texts(texts, contracts).await? {
                    settings.insert(id, flat);
                }
            }
            let now = Utc::now();
            let (detected, per_baseline, compared) = tokio::task::spawn_blocking(move || {
                compare_all(
                    workspace, tenant, &items, &matches, &policies, &settings, now,
                )
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
                baselines: assignments.len(),
                compared,
                ..Default::default()
            };
            let mut to_insert: Vec<NewFinding> = Vec::new();
            let mut to_refresh: Vec<(Uuid, &NewFinding)> = Vec::new();
            let mut reopen: Vec<Uuid> = Vec::new();
            let mut seen: HashSet<Uuid> = HashSet::new();
            // Whether anything a score counts changed (else the snapshots stand).
            let mut values_changed = false;
            // Accepted risks stay watched: their new actual values.
            let mut watched: Vec<(Uuid, Option<&serde_json::Value>)> = Vec::new();
            let mut inserted_fps: HashSet<String> = HashSet::new();
            for f in &detected {
                match by_fingerprint.get(f.fingerprint.as_str()) {
                    Some(old) => {
                        if !seen.insert(old.id) {
                            continue;
                        }
                        to_refresh.push((old.id, f));
                        values_changed |= old.severity != f.severity || old.weight != f.weight;
                        if old.status == "RISK_ACCEPTED" {
                            watched.push((old.id, f.actual_value.as_ref()));
                        }
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
                values_changed |= a.last_evaluated_at.is_none()
                    || i64::from(a.check_count) != i64::from(count)
                    || a.check_weight != i64::try_from(weight).unwrap_or(i64::MAX);
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
            let accepted_resolved: Vec<Uuid> = existing
                .iter()
                .filter(|f| f.status == "RISK_ACCEPTED" && resolve.contains(&f.id))
                .map(|f| f.id)
                .collect();
            super::exceptions::close_for_resolved(
                conn,
                workspace,
                &accepted_resolved,
                "no longer detected",
                &actor,
                app.clock.now(),
            )
            .await?;
            let superseded = super::exceptions::supersede_changed(
                conn,
                workspace,
                tenant,
                &watched,
                &actor,
                app.clock.now(),
            )
            .await?;
            outcome.new = new_ids.len();
            outcome.reopened = reopen.len() + superseded.len();
            outcome.resolved = resolve.len();
            let findings_changed = outcome.new + outcome.reopened + outcome.resolved > 0;
            if findings_changed || values_changed {
                super::findings::refresh_compliance(conn, workspace, Some(tenant)).await?;
            }
            // The run records every evaluation; the audit trail records the ones that
            // changed findings.
            if !findings_changed {
                return Ok(outcome);
            }
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
