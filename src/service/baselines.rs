//! Baselines: snapshots of expected policies (versioned), assigned to tenants, with
//! per-item severity overrides, ignored paths and explicit policy mappings.
use std::collections::{BTreeSet, HashMap};

use diesel_async::AsyncConnection;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{record, AppContext, Audit};
use crate::{
    authz::{Access, Capability},
    domain::{
        contracts::find_contract,
        drift::{comparable_settings, normalize_name, settings_digest, template_id, Severity},
        ids::{TenantId, WorkspaceId},
        secrets::redact_text,
    },
    error::{AppError, AppResult},
    store::{
        self,
        baselines::{BaselineItemRow, BaselineRow, NewBaseline, NewItem, SnapshotSource},
        policies::parse_stored_payload,
        Conn,
    },
};

/// Most tenants per assign/unassign call, and most policies per baseline.
pub const MAX_BATCH: usize = 1000;
/// Longest name and description.
const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 4000;

/// Where a new baseline's policies come from.
pub enum BaselineSource {
    /// Every ACTIVE policy of this tenant.
    Tenant(TenantId),
    /// These policies (any tenants of the workspace).
    Policies(Vec<Uuid>),
}

fn check_text(field: &str, value: &str, max: usize, required: bool) -> AppResult<String> {
    if value.contains('\0') {
        return Err(AppError::bad_input(
            field,
            "must not contain NUL characters",
        ));
    }
    let t = value.trim();
    if required && t.is_empty() {
        return Err(AppError::bad_input(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(redact_text(t).into_owned())
}

/// Looks up a baseline the caller may act on with `capability`; NOT_FOUND hides foreign ones.
pub async fn authorize_baseline(
    app: &AppContext,
    access: &Access,
    id: Uuid,
    capability: Capability,
) -> AppResult<BaselineRow> {
    access.user_email_or_system()?;
    let mut conn = app.db.conn().await?;
    let found = store::baselines::find_baseline_workspace(&mut conn, id)
        .await?
        .map(WorkspaceId);
    let workspace = super::require_visible(access, found, capability, "baseline").await?;
    store::baselines::find_baseline(&mut conn, workspace, id)
        .await?
        .ok_or_else(|| AppError::not_found("baseline"))
}

/// Reads the policies a version snapshots, checked against the workspace.
async fn snapshot_sources(
    conn: &mut Conn,
    workspace: WorkspaceId,
    source: &BaselineSource,
) -> AppResult<Vec<SnapshotSource>> {
    match source {
        BaselineSource::Tenant(tenant) => {
            store::tenants::find_tenant(conn, workspace, *tenant)
                .await?
                .ok_or_else(|| AppError::not_found("tenant"))?;
            let rows =
                store::baselines::list_tenant_snapshots(conn, workspace, *tenant, true).await?;
            if rows.is_empty() {
                return Err(AppError::bad_input(
                    "sourceTenantId",
                    "the tenant has no active policies; sync its inventory first",
                ));
            }
            Ok(rows)
        }
        BaselineSource::Policies(ids) => {
            if ids.is_empty() {
                return Err(AppError::bad_input(
                    "policyIds",
                    "must name at least one policy",
                ));
            }
            if ids.len() > MAX_BATCH {
                return Err(AppError::bad_input(
                    "policyIds",
                    format!("at most {MAX_BATCH} policies"),
                ));
            }
            let unique: BTreeSet<Uuid> = ids.iter().copied().collect();
            let ids: Vec<Uuid> = unique.into_iter().collect();
            let rows = store::baselines::list_policy_snapshots(conn, workspace, &ids).await?;
            if rows.len() != ids.len() {
                return Err(AppError::not_found("policy"));
            }
            if let Some(deleted) = rows.iter().find(|r| r.lifecycle_state != "ACTIVE") {
                return Err(AppError::bad_input(
                    "policyIds",
                    format!(
                        "policy \"{}\" is DELETED in its tenant; a baseline expects existing policies",
                        deleted.display_name
                    ),
                ));
            }
            Ok(rows)
        }
    }
}

/// Builds a version's items; lineages and rules carry over from `previous` by source policy.
fn items_of(
    workspace: WorkspaceId,
    baseline: Uuid,
    version: i32,
    sources: &[SnapshotSource],
    previous: &[BaselineItemRow],
) -> AppResult<Vec<NewItem>> {
    // Lineage (and with it rules, mappings and findings) carries over by source policy,
    // else by template id or normalised name within the contract type, when unambiguous.
    let mut carried: HashMap<Uuid, &BaselineItemRow> = HashMap::new();
    let mut claimed: BTreeSet<Uuid> = BTreeSet::new();
    for s in sources {
        if let Some(p) = previous
            .iter()
            .find(|i| i.source_policy_id == Some(s.policy_id))
        {
            carried.insert(s.policy_id, p);
            claimed.insert(p.id);
        }
    }
    for s in sources {
        if carried.contains_key(&s.policy_id) {
            continue;
        }
        let name = normalize_name(&s.display_name);
        let template = parse_stored_payload(&s.payload)
            .ok()
            .as_ref()
            .and_then(template_id);
        let open = |f: &dyn Fn(&BaselineItemRow) -> bool| -> Option<&BaselineItemRow> {
            let mut hits = previous
                .iter()
                .filter(|i| !claimed.contains(&i.id) && i.contract_type == s.contract_type && f(i));
            match (hits.next(), hits.next()) {
                (Some(one), None) => Some(one),
                _ => None,
            }
        };
        let found = template
            .as_ref()
            .and_then(|t| open(&|i| i.template_id.as_ref() == Some(t) && i.match_name == name))
            .or_else(|| open(&|i| i.match_name == name));
        if let Some(p) = found {
            claimed.insert(p.id);
            carried.insert(s.policy_id, p);
        }
    }
    sources
        .iter()
        .map(|s| {
            if find_contract(&s.contract_type).is_none() {
                return Err(AppError::internal(format!(
                    "unknown contract type {}",
                    s.contract_type
                )));
            }
            let payload = parse_stored_payload(&s.payload)?;
            let contract = find_contract(&s.contract_type)
                .ok_or_else(|| AppError::internal("unknown contract type"))?;
            let digest = settings_digest(&comparable_settings(contract, &payload));
            let before = carried.get(&s.policy_id);
            Ok(NewItem {
                workspace_id: workspace.0,
                baseline_id: baseline,
                version,
                lineage_id: before.map_or_else(Uuid::new_v4, |b| b.lineage_id),
                contract_type: s.contract_type.clone(),
                display_name: s.display_name.clone(),
                match_name: normalize_name(&s.display_name),
                template_id: template_id(&payload),
                source_policy_id: Some(s.policy_id),
                source_version: Some(s.version),
                payload_hash: s.payload_hash.clone(),
                payload: s.payload.clone(),
                setting_count: s.setting_count,
                settings_digest: digest,
                severity_overrides: before
                    .map_or_else(|| json!([]), |b| b.severity_overrides.clone()),
                ignored_paths: before.map_or_else(|| json!([]), |b| b.ignored_paths.clone()),
            })
        })
        .collect()
}

/// Creates a baseline (capability `baseline.manage`): version 1 snapshots the source.
pub async fn create_baseline(
    app: &AppContext,
    access: &Access,
    workspace: WorkspaceId,
    name: &str,
    description: Option<&str>,
    source: BaselineSource,
) -> AppResult<BaselineRow> {
    access
        .require(workspace, Capability::BaselineManage)
        .await?;
    let name = check_text("name", name, MAX_NAME, true)?;
    let description = check_text(
        "description",
        description.unwrap_or(""),
        MAX_DESCRIPTION,
        false,
    )?;
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let sources = snapshot_sources(conn, workspace, &source).await?;
        let baseline = store::baselines::insert_baseline(
            conn,
            NewBaseline {
                workspace,
                name: &name,
                description: &description,
                source_tenant: match &source {
                    BaselineSource::Tenant(t) => Some(t.0),
                    BaselineSource::Policies(_) => None,
                },
                actor: &actor,
            },
        )
        .await?;
        let items = items_of(workspace, baseline.id, 1, &sources, &[])?;
        store::baselines::insert_items(conn, &items).await?;
        store::baselines::insert_version(conn, workspace, baseline.id, 1, items.len() as i32, &actor)
            .await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "baseline.create",
                target_type: "Baseline",
                target_id: baseline.id.to_string(),
                before: None,
                after: Some(json!({
                    "name": baseline.name,
                    "version": 1,
                    "sourceTenantId": baseline.source_tenant_id,
                    "items": items.iter().map(|i| json!({"policyId": i.source_policy_id, "displayName": i.display_name})).collect::<Vec<_>>(),
                })),
                touches_activity: true,
            },
        )
        .await?;
        Ok(baseline)
    })
    .await
}

/// Changes a baseline (capability `baseline.manage`). A new version is made when
/// `policy_ids` is given (a snapshot of those policies) or `refresh` is set (a fresh
/// snapshot of the source tenant, or of the current version's source policies); older
/// versions are kept and every assigned tenant is evaluated against the new one. A name or
/// description change alone makes no version.
pub async fn update_baseline(
    app: &AppContext,
    access: &Access,
    id: Uuid,
    name: Option<&str>,
    description: Option<&str>,
    policy_ids: Option<Vec<Uuid>>,
    refresh: bool,
) -> AppResult<BaselineRow> {
    let current = authorize_baseline(app, access, id, Capability::BaselineManage).await?;
    let workspace = WorkspaceId(current.workspace_id);
    let new_version = policy_ids.is_some() || refresh;
    if !new_version && name.is_none() && description.is_none() {
        return Err(AppError::bad_input(
            "baselineId",
            "nothing to change: give name, description, policyIds or refreshFromSource",
        ));
    }
    let name = match name {
        Some(n) => check_text("name", n, MAX_NAME, true)?,
        None => current.name.clone(),
    };
    let description = match description {
        Some(d) => check_text("description", d, MAX_DESCRIPTION, false)?,
        None => current.description.clone(),
    };
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    let after = conn.transaction::<_, AppError, _>(async |conn| {
        let locked = store::baselines::lock_baseline(conn, workspace, id)
            .await?
            .ok_or_else(|| AppError::not_found("baseline"))?;
        if !new_version {
            let after = store::baselines::update_baseline_head(
                conn, workspace, id, &name, &description, locked.current_version,
            )
            .await?;
            record(
                conn,
                Audit {
                    workspace: Some(workspace),
                    actor: actor.clone(),
                    action: "baseline.rename",
                    target_type: "Baseline",
                    target_id: id.to_string(),
                    before: Some(json!({"name": locked.name, "description": locked.description})),
                    after: Some(json!({"name": after.name, "description": after.description})),
                    touches_activity: true,
                },
            )
            .await?;
            return Ok(after);
        }
        let previous = store::baselines::list_items_by_versions(
            conn,
            &[workspace.0],
            &[(id, locked.current_version)],
        )
        .await?;
        let source = match (&policy_ids, locked.source_tenant_id) {
            (Some(ids), _) => BaselineSource::Policies(ids.clone()),
            (None, Some(tenant)) => BaselineSource::Tenant(TenantId(tenant)),
            (None, None) => BaselineSource::Policies(
                previous.iter().filter_map(|i| i.source_policy_id).collect(),
            ),
        };
        let sources = snapshot_sources(conn, workspace, &source).await?;
        let version = locked.current_version + 1;
        let items = items_of(workspace, id, version, &sources, &previous)?;
        store::baselines::insert_items(conn, &items).await?;
        store::baselines::insert_version(conn, workspace, id, version, items.len() as i32, &actor)
            .await?;
        let after =
            store::baselines::update_baseline_head(conn, workspace, id, &name, &description, version)
                .await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "baseline.update",
                target_type: "Baseline",
                target_id: id.to_string(),
                before: Some(json!({"name": locked.name, "version": locked.current_version, "itemCount": previous.len()})),
                after: Some(json!({"name": after.name, "version": version, "itemCount": items.len()})),
                touches_activity: true,
            },
        )
        .await?;
        Ok(after)
    })
    .await?;
    drop(conn);
    if new_version {
        evaluate_assigned(app, workspace, id, &actor).await?;
    }
    Ok(after)
}

/// Queues an evaluation of every tenant a baseline is assigned to (its expectations
/// changed).
async fn evaluate_assigned(
    app: &AppContext,
    workspace: WorkspaceId,
    baseline: Uuid,
    actor: &str,
) -> AppResult<()> {
    let tenants: Vec<Uuid> = {
        let mut conn = app.db.conn().await?;
        store::baselines::list_assignments(&mut conn, &[workspace.0], Some(&[baseline]), None)
            .await?
            .into_iter()
            .map(|a| a.tenant_id)
            .collect()
    };
    for t in tenants {
        super::drift::queue_evaluation(app, workspace, TenantId(t), actor).await?;
    }
    Ok(())
}

/// Tenants of the baseline's workspace, all of them, or NOT_FOUND.
async fn tenants_in(
    conn: &mut Conn,
    workspace: WorkspaceId,
    tenants: &[Uuid],
) -> AppResult<Vec<Uuid>> {
    if tenants.is_empty() {
        return Err(AppError::bad_input(
            "tenantIds",
            "must name at least one tenant",
        ));
    }
    if tenants.len() > MAX_BATCH {
        return Err(AppError::bad_input(
            "tenantIds",
            format!("at most {MAX_BATCH} tenants"),
        ));
    }
    let unique: Vec<Uuid> = tenants
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let found = store::tenants::list_tenants_by_ids(conn, &[workspace.0], &unique).await?;
    if found.len() != unique.len() {
        return Err(AppError::not_found("tenant"));
    }
    Ok(unique)
}

/// Assigns a baseline to tenants (capability `baseline.manage`) and queues a drift
/// evaluation of each newly assigned tenant.
pub async fn assign_baseline(
    app: &AppContext,
    access: &Access,
    id: Uuid,
    tenants: &[Uuid],
) -> AppResult<(BaselineRow, Vec<Uuid>)> {
    let baseline = authorize_baseline(app, access, id, Capability::BaselineManage).await?;
    let workspace = WorkspaceId(baseline.workspace_id);
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    let added = conn
        .transaction::<_, AppError, _>(async |conn| {
            let tenants = tenants_in(conn, workspace, tenants).await?;
            let added =
                store::baselines::insert_assignments(conn, workspace, id, &tenants, &actor).await?;
            if !added.is_empty() {
                record(
                    conn,
                    Audit {
                        workspace: Some(workspace),
                        actor: actor.clone(),
                        action: "baseline.assign",
                        target_type: "Baseline",
                        target_id: id.to_string(),
                        before: None,
                        after: Some(
                            json!({"tenantIds": added, "version": baseline.current_version}),
                        ),
                        touches_activity: true,
                    },
                )
                .await?;
            }
            Ok(added)
        })
        .await?;
    drop(conn);
    let mut runs = Vec::new();
    for tenant in &added {
        if let Some(run) =
            super::drift::queue_evaluation(app, workspace, TenantId(*tenant), &actor).await?
        {
            runs.push(run.id);
        }
    }
    Ok((baseline, runs))
}

/// Unassigns a baseline from tenants (capability `baseline.manage`); their open findings
/// of it are resolved ("baseline unassigned").
pub async fn unassign_baseline(
    app: &AppContext,
    access: &Access,
    id: Uuid,
    tenants: &[Uuid],
) -> AppResult<BaselineRow> {
    let baseline = authorize_baseline(app, access, id, Capability::BaselineManage).await?;
    let workspace = WorkspaceId(baseline.workspace_id);
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let tenants = tenants_in(conn, workspace, tenants).await?;
        // Evaluations hold these locks from start to end: an unassign waits for a running
        // one (and the next sees the assignment gone). Sorted: no lock-order deadlocks.
        for t in &tenants {
            store::findings::lock_tenant_findings(conn, TenantId(*t)).await?;
        }
        let removed = store::baselines::delete_assignments(conn, workspace, id, &tenants).await?;
        for tenant in &removed {
            super::findings::resolve_baseline_findings(
                conn,
                workspace,
                TenantId(*tenant),
                id,
                "baseline unassigned",
                &actor,
            )
            .await?;
        }
        if !removed.is_empty() {
            record(
                conn,
                Audit {
                    workspace: Some(workspace),
                    actor: actor.clone(),
                    action: "baseline.unassign",
                    target_type: "Baseline",
                    target_id: id.to_string(),
                    before: Some(json!({"tenantIds": removed})),
                    after: None,
                    touches_activity: true,
                },
            )
            .await?;
        }
        Ok(())
    })
    .await?;
    Ok(baseline)
}

/// Looks up a baseline item the caller may act on with `capability`.
async fn authorize_item(
    app: &AppContext,
    access: &Access,
    item: Uuid,
    capability: Capability,
) -> AppResult<(BaselineItemRow, BaselineRow)> {
    access.user_email_or_system()?;
    let mut conn = app.db.conn().await?;
    let found = store::baselines::find_item_workspace(&mut conn, item)
        .await?
        .map(WorkspaceId);
    let workspace = super::require_visible(access, found, capability, "baseline item").await?;
    let row = store::baselines::find_item(&mut conn, workspace, item)
        .await?
        .ok_or_else(|| AppError::not_found("baseline item"))?;
    let baseline = store::baselines::find_baseline(&mut conn, workspace, row.baseline_id)
        .await?
        .ok_or_else(|| AppError::not_found("baseline"))?;
    Ok((row, baseline))
}

/// Maps a baseline policy to a tenant policy explicitly (capability `baseline.manage`);
/// the mapping holds for the policy's tenant and later baseline versions.
pub async fn map_baseline_policy(
    app: &AppContext,
    access: &Access,
    item: Uuid,
    policy: Uuid,
) -> AppResult<BaselineItemRow> {
    let (row, baseline) = authorize_item(app, access, item, Capability::BaselineManage).await?;
    let workspace = WorkspaceId(row.workspace_id);
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    let (_, tenant, contract) = store::baselines::find_policy_brief(&mut conn, workspace, policy)
        .await?
        .ok_or_else(|| AppError::not_found("policy"))?;
    if contract != row.contract_type {
        return Err(AppError::bad_input(
            "policyId",
            format!(
                "the policy is a {contract}; the baseline policy is a {}",
                row.contract_type
            ),
        ));
    }
    conn.transaction::<_, AppError, _>(async |conn| {
        let previous = store::baselines::upsert_mapping(
            conn,
            workspace,
            baseline.id,
            row.lineage_id,
            tenant,
            policy,
            &actor,
        )
        .await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "baseline.map_policy",
                target_type: "BaselineItem",
                target_id: row.id.to_string(),
                before: previous.map(|p| json!({"tenantId": tenant, "policyId": p})),
                after: Some(json!({"tenantId": tenant, "policyId": policy})),
                touches_activity: true,
            },
        )
        .await?;
        Ok(())
    })
    .await?;
    drop(conn);
    super::drift::queue_evaluation(app, workspace, TenantId(tenant), &actor).await?;
    Ok(row)
}

/// Sets a baseline item's severity overrides and ignored paths (capability
/// `baseline.manage`). Only items of the current version can change; later versions keep
/// the rules.
pub async fn set_item_rules(
    app: &AppContext,
    access: &Access,
    item: Uuid,
    overrides: Option<&[(String, Severity)]>,
    ignored: Option<&[String]>,
) -> AppResult<BaselineItemRow> {
    let (row, baseline) = authorize_item(app, access, item, Capability::BaselineManage).await?;
    if overrides.is_none() && ignored.is_none() {
        return Err(AppError::bad_input(
            "baselineItemId",
            "nothing to change: give severityOverrides, ignoredPaths or both",
        ));
    }
    let current = item_rules(&row);
    let overrides_json: Value = match overrides {
        None => row.severity_overrides.clone(),
        Some(list) => {
            if list.len() > MAX_BATCH {
                return Err(AppError::bad_input(
                    "severityOverrides",
                    format!("at most {MAX_BATCH} entries"),
                ));
            }
            let mut seen = BTreeSet::new();
            let mut out = Vec::new();
            for (i, (path, severity)) in list.iter().enumerate() {
                let field = format!("severityOverrides[{i}].path");
                let path = check_text(&field, path, 2000, false)?;
                if !seen.insert(path.clone()) {
                    return Err(AppError::bad_input(field, "the same path appears twice"));
                }
                out.push(json!({"path": path, "severity": severity.as_str()}));
            }
            Value::Array(out)
        }
    };
    let ignored_json: Value = match ignored {
        None => json!(current.ignored_paths),
        Some(list) => {
            if list.len() > MAX_BATCH {
                return Err(AppError::bad_input(
                    "ignoredPaths",
                    format!("at most {MAX_BATCH} entries"),
                ));
            }
            let mut seen = BTreeSet::new();
            for (i, path) in list.iter().enumerate() {
                let path = check_text(&format!("ignoredPaths[{i}]"), path, 2000, true)?;
                seen.insert(path);
            }
            json!(seen.into_iter().collect::<Vec<_>>())
        }
    };
    let workspace = WorkspaceId(row.workspace_id);
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    let after = conn
        .transaction::<_, AppError, _>(async |conn| {
            // Under the baseline's lock: a concurrent update cannot make the item old.
            let locked = store::baselines::lock_baseline(conn, workspace, baseline.id)
                .await?
                .ok_or_else(|| AppError::not_found("baseline"))?;
            if row.version != locked.current_version {
                return Err(AppError::Conflict(format!(
                    "the item belongs to version {}; the baseline is at version {}: change that version's item",
                    row.version, locked.current_version
                )));
            }
            let after =
                store::baselines::set_item_rules(conn, workspace, item, &overrides_json, &ignored_json)
                    .await?;
            record(
                conn,
                Audit {
                    workspace: Some(workspace),
                    actor: actor.clone(),
                    action: "baseline.item_rules",
                    target_type: "BaselineItem",
                    target_id: item.to_string(),
                    before: Some(json!({"severityOverrides": row.severity_overrides, "ignoredPaths": row.ignored_paths})),
                    after: Some(json!({"severityOverrides": overrides_json, "ignoredPaths": ignored_json})),
                    touches_activity: true,
                },
            )
            .await?;
            Ok(after)
        })
        .await?;
    drop(conn);
    evaluate_assigned(app, workspace, baseline.id, &actor).await?;
    Ok(after)
}

/// The rules stored on an item.
pub fn item_rules(row: &BaselineItemRow) -> crate::domain::drift::ItemRules {
    let overrides = row
        .severity_overrides
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| {
            Some((
                o.get("path")?.as_str()?.to_string(),
                Severity::parse(o.get("severity")?.as_str()?)?,
            ))
        })
        .collect();
    let ignored = row
        .ignored_paths
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    crate::domain::drift::ItemRules {
        severity_overrides: overrides,
        ignored_paths: ignored,
    }
}
