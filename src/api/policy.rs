//! Policies: the inventory.
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use uuid::Uuid;

use super::{
    access, app,
    errors::ApiResult,
    loaders::{PayloadKey, PolicyCountKey, PolicyPageKey, VersionPageKey},
    node::{expect_global_id, to_global_id, NodeType},
    pagination::{connection, Conn, PageArgs},
    scalars::DateTime,
    state,
    tenant::Tenant,
};
use crate::{
    authz::Capability,
    domain::{
        contracts::{find_contract, variant_of_type},
        ids::WorkspaceId,
        policy::{flatten_settings, Assignment},
    },
    error::{AppError, AppResult},
    store::{
        self,
        policies::{PolicyQuery, PolicyRow, PolicyVersionRow},
    },
};

/// Whether a policy still exists in its tenant.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum LifecycleState {
    /// Seen in the latest complete listing.
    Active,
    /// Absent from a complete listing: deleted in the tenant (a "ghost" policy); the last
    /// snapshot is kept.
    Deleted,
}

impl LifecycleState {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleState::Active => "ACTIVE",
            LifecycleState::Deleted => "DELETED",
        }
    }
}

/// Filter of policy lists.
#[derive(InputObject, Default, Clone)]
pub struct PolicyFilter {
    /// Only this tenant's policies.
    pub tenant_id: Option<ID>,
    /// Only this contract type (a Graph collection path, e.g. `deviceManagement/configurationPolicies`).
    pub contract_type: Option<String>,
    /// Only this platform (e.g. `windows10`, `windows`, `ios`).
    pub platform: Option<String>,
    /// Only ACTIVE or only DELETED policies.
    pub lifecycle_state: Option<LifecycleState>,
    /// Case-insensitive substring of the display name.
    pub search: Option<String>,
}

impl PolicyFilter {
    pub fn to_query(&self) -> AppResult<PolicyQuery> {
        for (field, v) in [
            ("filter.contractType", &self.contract_type),
            ("filter.platform", &self.platform),
            ("filter.search", &self.search),
        ] {
            super::workspace::reject_nul(field, v.as_deref())?;
        }
        let tenant = self
            .tenant_id
            .as_ref()
            .map(|id| expect_global_id(id, NodeType::Tenant, "filter.tenantId"))
            .transpose()?;
        if let Some(c) = &self.contract_type {
            if find_contract(c).is_none() {
                return Err(AppError::bad_input(
                    "filter.contractType",
                    format!("unknown contract type {c:?}"),
                ));
            }
        }
        Ok(PolicyQuery {
            tenant,
            contract_type: self.contract_type.clone(),
            platform: self.platform.clone(),
            lifecycle_state: self.lifecycle_state.map(|s| s.as_str().to_string()),
            search: self.search.clone(),
        })
    }
}

/// One Intune object in a tenant.
#[derive(Clone, Debug)]
pub struct Policy(pub PolicyRow);

impl Policy {
    /// Loads a policy the caller may read (`policy.read`), else `None`.
    pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> AppResult<Option<Self>> {
        let mut conn = app(ctx).db.conn().await?;
        let Some(workspace) = store::policies::find_policy_workspace(&mut conn, id).await? else {
            return Ok(None);
        };
        if !access(ctx)
            .can_see(WorkspaceId(workspace), Capability::PolicyRead)
            .await?
        {
            return Ok(None);
        }
        Ok(
            store::policies::list_policies_by_ids(&mut conn, &[workspace], &[id])
                .await?
                .into_iter()
                .next()
                .map(Policy),
        )
    }

    /// The payload of the current version, through the request's loader.
    async fn current_payload(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<std::sync::Arc<serde_json::Value>> {
        state(ctx)
            .loaders
            .payloads
            .load_one(PayloadKey {
                workspace: self.0.workspace_id,
                policy: self.0.id,
                version: self.0.version_count,
            })
            .await
            .api()?
            .ok_or_else(|| super::errors::to_graphql(AppError::not_found("policy version")))
    }
}

/// One configured value of a policy.
#[derive(SimpleObject, Clone)]
pub struct PolicySetting {
    /// Definition ids joined by `/` (settings catalog; `[i]` indexes group collections),
    /// dotted property names (other policies), `omaSettings[<omaUri>]` for OMA-URI settings.
    pub path: String,
    /// The settings catalog definition id, where there is one.
    pub definition_id: Option<String>,
    /// The value as exported (a redaction marker for secrets).
    pub value: Json<serde_json::Value>,
    /// `choice`, `string`, `integer`, `boolean`, `number`, `object`, `list`, `collection`,
    /// `null`, or `secret` (the value is a redaction marker).
    pub value_type: String,
}

/// Who a policy is assigned to, as exported.
#[derive(SimpleObject, Clone)]
pub struct PolicyAssignment {
    /// e.g. `groupAssignmentTarget`, `exclusionGroupAssignmentTarget`, `allDevicesAssignmentTarget`.
    pub target_type: String,
    /// Entra group id, for group targets.
    pub group_id: Option<String>,
    /// Assignment filter id.
    pub filter_id: Option<String>,
    /// `include`, `exclude` or `none`.
    pub filter_mode: Option<String>,
    /// Assignment intent, where the contract has one.
    pub intent: Option<String>,
}

/// Where a payload holds a secret. The value itself is never stored or returned.
#[derive(SimpleObject, Clone)]
pub struct SecretField {
    /// Property path: dotted names; array entries by `omaUri`, settings catalog
    /// definition id, or index.
    pub path: String,
    /// What kind of secret, e.g. `wifi.pre_shared_key`, `oma.encrypted`,
    /// `pattern.password_assignment`.
    pub classification: String,
    /// `SCHEMA` (the contract registry says so) or `PATTERN` (the detector found it).
    pub source: String,
    /// HMAC-SHA256 of the value under the deployment's key: equal fingerprints, equal
    /// secrets. Null when the export only held a placeholder.
    pub fingerprint: Option<String>,
    /// The export held a placeholder (`****`, `PGEvPg==`) instead of the value.
    pub masked_at_source: bool,
}

/// How a secret differs from the previous version.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum SecretChangeKind {
    Added,
    Changed,
    Removed,
}

/// A secret added, changed or removed by a version.
#[derive(SimpleObject, Clone)]
pub struct SecretChange {
    pub path: String,
    pub classification: String,
    pub change: SecretChangeKind,
}

fn secret_fields_of(stored: &serde_json::Value) -> async_graphql::Result<Vec<SecretField>> {
    let fields: Vec<crate::domain::secrets::SecretField> =
        serde_json::from_value(stored.clone())
            .map_err(|e| super::errors::to_graphql(AppError::internal(e)))?;
    Ok(fields
        .into_iter()
        .map(|f| SecretField {
            path: f.path,
            classification: f.classification,
            source: f.source,
            fingerprint: f.fingerprint,
            masked_at_source: f.masked_at_source,
        })
        .collect())
}

/// A policy in the secret inventory: which kinds of secrets it holds, and where.
#[derive(Clone)]
pub struct SecretInventoryEntry(pub PolicyRow);

#[Object]
impl SecretInventoryEntry {
    async fn policy(&self) -> Policy {
        Policy(self.0.clone())
    }
    /// Distinct classifications, sorted.
    async fn classifications(&self) -> async_graphql::Result<Vec<String>> {
        let mut c: Vec<String> = secret_fields_of(&self.0.secret_fields)?
            .into_iter()
            .map(|f| f.classification)
            .collect();
        c.sort();
        c.dedup();
        Ok(c)
    }
    async fn secret_fields(&self) -> async_graphql::Result<Vec<SecretField>> {
        secret_fields_of(&self.0.secret_fields)
    }
    /// Values redacted (placeholders masked at the source are not counted).
    async fn redaction_count(&self) -> i32 {
        self.0.redaction_count
    }
}

/// `Workspace.secretInventory`: capability `secret.inventory.read`.
pub async fn workspace_secret_inventory(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    page: PageArgs,
) -> AppResult<Conn<SecretInventoryEntry>> {
    access(ctx)
        .require(workspace, Capability::SecretInventoryRead)
        .await?;
    let mut conn = app(ctx).db.conn().await?;
    let total = store::policies::count_secret_policies(&mut conn, workspace).await?;
    let window = page.window(total as usize)?;
    let rows = store::policies::list_secret_policies(&mut conn, workspace, window).await?;
    Ok(connection(
        rows.into_iter().map(SecretInventoryEntry).collect(),
        window,
        total,
    ))
}

/// One distinct payload a policy has had.
#[derive(Clone)]
pub struct PolicyVersion(pub PolicyVersionRow);

#[Object]
impl PolicyVersion {
    /// 1 for the first payload seen, counting up.
    async fn version(&self) -> i32 {
        self.0.version
    }
    /// Hash of the canonical payload.
    async fn payload_hash(&self) -> &str {
        &self.0.payload_hash
    }
    /// The payload as seen, with secrets redacted.
    async fn payload(&self) -> async_graphql::Result<Json<serde_json::Value>> {
        Ok(Json(
            store::policies::parse_stored_payload(&self.0.payload).api()?,
        ))
    }
    /// When this payload was first seen.
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// Where this version's payload holds secrets.
    async fn secret_fields(&self) -> async_graphql::Result<Vec<SecretField>> {
        secret_fields_of(&self.0.secret_fields)
    }
    /// Secrets added, changed (by fingerprint) or removed since the previous version.
    async fn secret_changes(&self) -> async_graphql::Result<Vec<SecretChange>> {
        let changes: Vec<crate::domain::secrets::SecretChange> =
            serde_json::from_value(self.0.secret_changes.clone())
                .map_err(|e| super::errors::to_graphql(AppError::internal(e)))?;
        Ok(changes
            .into_iter()
            .map(|c| SecretChange {
                path: c.path,
                classification: c.classification,
                change: match c.change.as_str() {
                    "ADDED" => SecretChangeKind::Added,
                    "REMOVED" => SecretChangeKind::Removed,
                    _ => SecretChangeKind::Changed,
                },
            })
            .collect())
    }
    /// The run that saw it first.
    async fn operation_run_id(&self) -> Option<ID> {
        self.0
            .operation_run_id
            .map(|id| to_global_id(NodeType::OperationRun, id))
    }
}

#[Object]
impl Policy {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        to_global_id(NodeType::Policy, self.0.id)
    }

    /// The tenant the policy lives in.
    async fn tenant(&self, ctx: &Context<'_>) -> async_graphql::Result<Tenant> {
        state(ctx)
            .loaders
            .tenants
            .load_one(self.0.tenant_id)
            .await
            .api()?
            .map(Tenant)
            .ok_or_else(|| super::errors::to_graphql(AppError::not_found("tenant")))
    }

    /// The Graph collection, e.g. `deviceManagement/configurationPolicies`.
    async fn contract_type(&self) -> &str {
        &self.0.contract_type
    }

    /// Human name of the contract type, e.g. "Settings catalog".
    async fn contract_label(&self) -> Option<&'static str> {
        find_contract(&self.0.contract_type).map(|c| c.label)
    }

    /// Named sub-kind, e.g. "Windows update ring" for a `windowsUpdateForBusinessConfiguration`.
    async fn variant(&self) -> Option<&'static str> {
        let contract = find_contract(&self.0.contract_type)?;
        variant_of_type(contract, self.0.odata_type.as_deref()?)
    }

    /// The `@odata.type`.
    async fn odata_type(&self) -> Option<&str> {
        self.0.odata_type.as_deref()
    }

    /// The object's id in Intune.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }

    /// Display name (`displayName`, or `name` for settings catalog policies).
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }

    /// Platform, e.g. `windows10`, `windows`, `ios`, `macOS`, `android`.
    async fn platform(&self) -> &str {
        &self.0.platform
    }

    /// ACTIVE or DELETED.
    async fn lifecycle_state(&self) -> LifecycleState {
        if self.0.lifecycle_state == "DELETED" {
            LifecycleState::Deleted
        } else {
            LifecycleState::Active
        }
    }

    /// When a sync found it gone.
    async fn deleted_at(&self) -> Option<DateTime> {
        self.0.deleted_at.map(Into::into)
    }

    /// When it last came back after being deleted.
    async fn restored_at(&self) -> Option<DateTime> {
        self.0.restored_at.map(Into::into)
    }

    /// When it was first seen.
    async fn first_seen_at(&self) -> DateTime {
        self.0.first_seen_at.into()
    }

    /// When a sync last saw it: the tenant's last sync for active policies.
    async fn last_seen_at(&self, ctx: &Context<'_>) -> async_graphql::Result<DateTime> {
        if self.0.lifecycle_state == "DELETED" {
            return Ok(self.0.last_seen_at.into());
        }
        let tenant = state(ctx)
            .loaders
            .tenants
            .load_one(self.0.tenant_id)
            .await
            .api()?;
        let synced = tenant.and_then(|t| t.last_synced_at);
        Ok(synced
            .map_or(self.0.last_seen_at, |s| s.max(self.0.last_seen_at))
            .into())
    }

    /// Hash of the canonical payload (metadata removed, keys sorted).
    async fn payload_hash(&self) -> &str {
        &self.0.payload_hash
    }

    /// The current payload as exported, with secrets redacted (marker objects with
    /// fingerprints; see `secretFields`).
    async fn payload(&self, ctx: &Context<'_>) -> async_graphql::Result<Json<serde_json::Value>> {
        Ok(Json(self.current_payload(ctx).await?.as_ref().clone()))
    }

    /// Flattened settings; `path` keeps only settings whose path contains it.
    async fn settings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only settings whose path contains this text (case-insensitive).")]
        path: Option<String>,
    ) -> async_graphql::Result<Vec<PolicySetting>> {
        let payload = self.current_payload(ctx).await?;
        let settings = match find_contract(&self.0.contract_type) {
            Some(contract) => flatten_settings(contract, &payload),
            None => Vec::new(),
        };
        let needle = path.map(|p| p.to_lowercase());
        Ok(settings
            .into_iter()
            .filter(|s| {
                needle
                    .as_ref()
                    .is_none_or(|n| s.path.to_lowercase().contains(n))
            })
            .map(|s| PolicySetting {
                path: s.path,
                definition_id: s.definition_id,
                value: Json(s.value),
                value_type: s.value_type,
            })
            .collect())
    }

    /// Where the payload holds secrets (their values are redacted).
    async fn secret_fields(&self) -> async_graphql::Result<Vec<SecretField>> {
        secret_fields_of(&self.0.secret_fields)
    }

    /// Secret values redacted from the payload (placeholders masked at the source are not
    /// counted).
    async fn redaction_count(&self) -> i32 {
        self.0.redaction_count
    }

    /// Number of flattened settings.
    async fn setting_count(&self) -> i32 {
        self.0.setting_count
    }

    /// Assignments as exported.
    async fn assignments(&self) -> async_graphql::Result<Vec<PolicyAssignment>> {
        let list: Vec<Assignment> = serde_json::from_value(self.0.assignments.clone())
            .map_err(|e| super::errors::to_graphql(AppError::internal(e)))?;
        Ok(list
            .into_iter()
            .map(|a| PolicyAssignment {
                target_type: a.target_type,
                group_id: a.group_id,
                filter_id: a.filter_id,
                filter_mode: a.filter_mode,
                intent: a.intent,
            })
            .collect())
    }

    /// How many distinct payloads have been seen.
    async fn version_count(&self) -> i32 {
        self.0.version_count
    }

    /// Every distinct payload seen, newest first.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn versions(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n versions (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns versions after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n versions (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns versions before this cursor.")] before: Option<String>,
    ) -> async_graphql::Result<Conn<PolicyVersion>> {
        let total = i64::from(self.0.version_count);
        let window = PageArgs::new(first, after, last, before)
            .loader_window(total as usize)
            .api()?;
        let rows = state(ctx)
            .loaders
            .version_pages
            .load_one(VersionPageKey {
                workspace: self.0.workspace_id,
                policy: self.0.id,
                window,
            })
            .await
            .api()?
            .unwrap_or_default();
        Ok(connection(
            rows.iter().cloned().map(PolicyVersion).collect(),
            window,
            total,
        ))
    }

    /// Findings about this policy (as the tenant policy compared). Capability `finding.read`.
    #[graphql(
        complexity = "crate::api::pagination::list_complexity(first, last, child_complexity)"
    )]
    async fn findings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Returns the first n findings (at most 100).")] first: Option<i32>,
        #[graphql(desc = "Returns findings after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n findings (at most 100).")] last: Option<i32>,
        #[graphql(desc = "Returns findings before this cursor.")] before: Option<String>,
        #[graphql(desc = "Which findings.")] filter: Option<super::finding::FindingFilter>,
        #[graphql(desc = "Sort (default: SEVERITY, DESC).")] order_by: Option<
            super::finding::FindingOrderBy,
        >,
    ) -> async_graphql::Result<Conn<super::finding::Finding>> {
        super::finding::list_findings(
            ctx,
            store::findings::FindingParent::Policy,
            WorkspaceId(self.0.workspace_id),
            self.0.id,
            PageArgs::new(first, after, last, before),
            filter,
            order_by,
        )
        .await
        .api()
    }
}

/// `Workspace.policies`.
pub async fn workspace_policies(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    page: PageArgs,
    filter: Option<PolicyFilter>,
) -> AppResult<Conn<Policy>> {
    access(ctx)
        .require(workspace, Capability::PolicyRead)
        .await?;
    let query = filter.unwrap_or_default().to_query()?;
    let mut conn = app(ctx).db.conn().await?;
    let total = store::policies::count_policies(&mut conn, workspace, &query).await?;
    let window = page.window(total as usize)?;
    let rows = store::policies::list_policies(&mut conn, workspace, &query, window).await?;
    Ok(connection(
        rows.into_iter().map(Policy).collect(),
        window,
        total,
    ))
}

/// `Tenant.policies`, batched across tenants.
pub async fn tenant_policies(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    tenant: Uuid,
    page: PageArgs,
    filter: Option<PolicyFilter>,
) -> AppResult<Conn<Policy>> {
    access(ctx)
        .require(workspace, Capability::PolicyRead)
        .await?;
    let mut query = filter.unwrap_or_default().to_query()?;
    query.tenant = None;
    let loaders = &state(ctx).loaders;
    let total = loaders
        .policy_counts
        .load_one(PolicyCountKey {
            workspace: workspace.0,
            tenant,
            query: query.clone(),
        })
        .await?
        .unwrap_or(0);
    let window = page.loader_window(total as usize)?;
    let rows = loaders
        .policy_pages
        .load_one(PolicyPageKey {
            workspace: workspace.0,
            tenant,
            query,
            window,
        })
        .await?
        .unwrap_or_default();
    Ok(connection(
        rows.iter().cloned().map(Policy).collect(),
        window,
        total,
    ))
}
