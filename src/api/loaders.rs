//! Per-request DataLoaders: every list and child field resolves through one of these, so a
//! request runs a number of SQL statements that grows with the query's depth, not with the
//! number of rows. Loaders do not check access; resolvers do, before or after loading.
use std::{collections::HashMap, sync::Arc};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use uuid::Uuid;

use crate::{
    db::Db,
    error::AppError,
    store::{
        self, audit::AuditEventRow, preferences::PreferenceRow, tenants::TenantRow, users::UserRow,
        workspaces::WorkspaceRow, Window,
    },
};

/// Workspaces by id.
pub struct WorkspaceLoader(pub Db);

impl Loader<Uuid> for WorkspaceLoader {
    type Value = WorkspaceRow;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        let rows = store::workspaces::list_workspaces_by_ids(&mut conn, keys).await?;
        Ok(rows.into_iter().map(|w| (w.id, w)).collect())
    }
}

/// All tenants of a workspace, ordered by display name.
pub struct TenantsByWorkspaceLoader(pub Db);

impl Loader<Uuid> for TenantsByWorkspaceLoader {
    type Value = Arc<Vec<TenantRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        let rows = store::tenants::list_tenants_by_workspaces(&mut conn, keys).await?;
        let mut out: HashMap<Uuid, Vec<TenantRow>> =
            keys.iter().map(|k| (*k, Vec::new())).collect();
        for t in rows {
            out.entry(t.workspace_id).or_default().push(t);
        }
        Ok(out.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
    }
}

/// The viewing user's pins and favourites, by workspace.
pub struct PreferenceLoader {
    pub db: Db,
    pub user_email: Option<String>,
}

impl Loader<Uuid> for PreferenceLoader {
    type Value = PreferenceRow;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let Some(email) = &self.user_email else {
            return Ok(HashMap::new());
        };
        let mut conn = self.db.conn().await?;
        let Some(user) = store::users::find_user_by_email(&mut conn, email).await? else {
            return Ok(HashMap::new());
        };
        let rows = store::preferences::list_preferences(&mut conn, user.id, keys).await?;
        Ok(rows.into_iter().map(|p| (p.workspace_id, p)).collect())
    }
}

/// Users by e-mail.
pub struct UserByEmailLoader(pub Db);

impl Loader<String> for UserByEmailLoader {
    type Value = UserRow;
    type Error = AppError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        let rows = store::users::list_users_by_emails(&mut conn, keys).await?;
        Ok(rows.into_iter().map(|u| (u.email.clone(), u)).collect())
    }
}

/// Audit event counts by workspace.
pub struct AuditCountLoader(pub Db);

impl Loader<Uuid> for AuditCountLoader {
    type Value = i64;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        let mut out: HashMap<Uuid, i64> = keys.iter().map(|k| (*k, 0)).collect();
        for (ws, n) in store::audit::count_events_by_workspaces(&mut conn, keys).await? {
            out.insert(ws, n);
        }
        Ok(out)
    }
}

/// One page of a workspace's audit events (newest first).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AuditPageKey {
    pub workspace: Uuid,
    pub window: Window,
}

pub struct AuditPageLoader(pub Db);

impl Loader<AuditPageKey> for AuditPageLoader {
    type Value = Arc<Vec<AuditEventRow>>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[AuditPageKey],
    ) -> Result<HashMap<AuditPageKey, Self::Value>, Self::Error> {
        // One statement per distinct window (normally exactly one per request level).
        let mut by_window: HashMap<Window, Vec<Uuid>> = HashMap::new();
        for k in keys {
            by_window.entry(k.window).or_default().push(k.workspace);
        }
        let mut conn = self.0.conn().await?;
        let mut out = HashMap::new();
        for (window, workspaces) in by_window {
            let rows =
                store::audit::list_events_by_workspaces(&mut conn, &workspaces, window).await?;
            let mut grouped: HashMap<Uuid, Vec<AuditEventRow>> =
                workspaces.iter().map(|w| (*w, Vec::new())).collect();
            for r in rows {
                if let Some(ws) = r.workspace_id {
                    grouped.entry(ws).or_default().push(r);
                }
            }
            for (workspace, rows) in grouped {
                out.insert(AuditPageKey { workspace, window }, Arc::new(rows));
            }
        }
        Ok(out)
    }
}

/// Where a loader's batch fetches run.
#[derive(Clone)]
pub enum BatchSpawner {
    /// On the runtime, like any task.
    Runtime,
    /// In the request's own task, driven by [`run_with_batches`] next to the execution: a
    /// batch is only collected after the executor has run every resolver of the level to
    /// its first wait, so batching does not depend on how busy the machine is.
    Request(tokio::sync::mpsc::UnboundedSender<futures_util::future::BoxFuture<'static, ()>>),
}

impl BatchSpawner {
    fn spawn(&self, fut: futures_util::future::BoxFuture<'static, ()>) {
        match self {
            BatchSpawner::Runtime => {
                tokio::spawn(fut);
            }
            BatchSpawner::Request(tx) => {
                if let Err(unsent) = tx.send(fut) {
                    // The request is gone; let the fetch finish anyway.
                    tokio::spawn(unsent.0);
                }
            }
        }
    }
}

/// Every loader of one request.
pub struct Loaders {
    pub workspaces: DataLoader<WorkspaceLoader, HashMapCache>,
    pub tenants_by_workspace: DataLoader<TenantsByWorkspaceLoader, HashMapCache>,
    pub preferences: DataLoader<PreferenceLoader, HashMapCache>,
    pub users_by_email: DataLoader<UserByEmailLoader, HashMapCache>,
    pub audit_counts: DataLoader<AuditCountLoader, HashMapCache>,
    pub audit_pages: DataLoader<AuditPageLoader, HashMapCache>,
    pub tenants: DataLoader<TenantLoader, HashMapCache>,
    pub policy_pages: DataLoader<PolicyPageLoader, HashMapCache>,
    pub policy_counts: DataLoader<PolicyCountLoader, HashMapCache>,
    pub version_pages: DataLoader<VersionPageLoader, HashMapCache>,
    pub payloads: DataLoader<PayloadLoader, HashMapCache>,
    pub policies: DataLoader<PolicyLoader, HashMapCache>,
    pub baselines: DataLoader<BaselineLoader, HashMapCache>,
    pub users: DataLoader<UserLoader, HashMapCache>,
    pub comments: DataLoader<CommentsLoader, HashMapCache>,
    pub history: DataLoader<HistoryLoader, HashMapCache>,
    pub baseline_versions: DataLoader<BaselineVersionsLoader, HashMapCache>,
    pub assignments: DataLoader<AssignmentsLoader, HashMapCache>,
    pub baseline_items: DataLoader<BaselineItemsLoader, HashMapCache>,
    pub finding_pages: DataLoader<FindingPageLoader, HashMapCache>,
    pub finding_counts: DataLoader<FindingCountLoader, HashMapCache>,
    pub compliance: DataLoader<ComplianceLoader, HashMapCache>,
    pub trends: DataLoader<TrendLoader, HashMapCache>,
    pub baselines_by_workspace: DataLoader<BaselinesByWorkspaceLoader, HashMapCache>,
    pub workspace_compliance: DataLoader<WorkspaceComplianceLoader, HashMapCache>,
    pub findings: DataLoader<FindingLoader, HashMapCache>,
    pub exceptions: DataLoader<ExceptionLoader, HashMapCache>,
    pub finding_exceptions: DataLoader<FindingExceptionsLoader, HashMapCache>,
    pub exception_history: DataLoader<ExceptionHistoryLoader, HashMapCache>,
    pub runs: DataLoader<RunLoader, HashMapCache>,
    pub evidence_packs: DataLoader<EvidencePackPageLoader, HashMapCache>,
}

impl Loaders {
    /// Turns caching off (batching stays).
    pub fn disable_caches(&self) {
        self.workspaces.enable_all_cache(false);
        self.tenants_by_workspace.enable_all_cache(false);
        self.preferences.enable_all_cache(false);
        self.users_by_email.enable_all_cache(false);
        self.audit_counts.enable_all_cache(false);
        self.audit_pages.enable_all_cache(false);
        self.tenants.enable_all_cache(false);
        self.policy_pages.enable_all_cache(false);
        self.policy_counts.enable_all_cache(false);
        self.version_pages.enable_all_cache(false);
        self.payloads.enable_all_cache(false);
        self.policies.enable_all_cache(false);
        self.baselines.enable_all_cache(false);
        self.users.enable_all_cache(false);
        self.comments.enable_all_cache(false);
        self.history.enable_all_cache(false);
        self.baseline_versions.enable_all_cache(false);
        self.assignments.enable_all_cache(false);
        self.baseline_items.enable_all_cache(false);
        self.finding_pages.enable_all_cache(false);
        self.finding_counts.enable_all_cache(false);
        self.compliance.enable_all_cache(false);
        self.trends.enable_all_cache(false);
        self.baselines_by_workspace.enable_all_cache(false);
        self.workspace_compliance.enable_all_cache(false);
        self.findings.enable_all_cache(false);
        self.exceptions.enable_all_cache(false);
        self.finding_exceptions.enable_all_cache(false);
        self.exception_history.enable_all_cache(false);
        self.runs.enable_all_cache(false);
        self.evidence_packs.enable_all_cache(false);
    }

    /// Loaders whose batch fetches run on the tokio runtime (WebSocket connections).
    pub fn new(db: &Db, user_email: Option<String>) -> Self {
        Self::with_spawner(db, user_email, BatchSpawner::Runtime)
    }

    pub fn with_spawner(db: &Db, user_email: Option<String>, spawner: BatchSpawner) -> Self {
        fn dl<T: Send + Sync + 'static>(
            loader: T,
            spawner: &BatchSpawner,
        ) -> DataLoader<T, HashMapCache> {
            let spawner = spawner.clone();
            DataLoader::with_cache(loader, move |f| spawner.spawn(f), HashMapCache::default())
                .delay(std::time::Duration::from_millis(2))
        }
        Self {
            workspaces: dl(WorkspaceLoader(db.clone()), &spawner),
            tenants_by_workspace: dl(TenantsByWorkspaceLoader(db.clone()), &spawner),
            preferences: dl(
                PreferenceLoader {
                    db: db.clone(),
                    user_email,
                },
                &spawner,
            ),
            users_by_email: dl(UserByEmailLoader(db.clone()), &spawner),
            audit_counts: dl(AuditCountLoader(db.clone()), &spawner),
            audit_pages: dl(AuditPageLoader(db.clone()), &spawner),
            tenants: dl(TenantLoader(db.clone()), &spawner),
            policy_pages: dl(PolicyPageLoader(db.clone()), &spawner),
            policy_counts: dl(PolicyCountLoader(db.clone()), &spawner),
            version_pages: dl(VersionPageLoader(db.clone()), &spawner),
            payloads: dl(PayloadLoader(db.clone()), &spawner),
            policies: dl(PolicyLoader(db.clone()), &spawner),
            baselines: dl(BaselineLoader(db.clone()), &spawner),
            users: dl(UserLoader(db.clone()), &spawner),
            comments: dl(CommentsLoader(db.clone()), &spawner),
            history: dl(HistoryLoader(db.clone()), &spawner),
            baseline_versions: dl(BaselineVersionsLoader(db.clone()), &spawner),
            assignments: dl(AssignmentsLoader(db.clone()), &spawner),
            baseline_items: dl(BaselineItemsLoader(db.clone()), &spawner),
            finding_pages: dl(FindingPageLoader(db.clone()), &spawner),
            finding_counts: dl(FindingCountLoader(db.clone()), &spawner),
            compliance: dl(ComplianceLoader(db.clone()), &spawner),
            trends: dl(TrendLoader(db.clone()), &spawner),
            baselines_by_workspace: dl(BaselinesByWorkspaceLoader(db.clone()), &spawner),
            workspace_compliance: dl(WorkspaceComplianceLoader(db.clone()), &spawner),
            findings: dl(FindingLoader(db.clone()), &spawner),
            exceptions: dl(ExceptionLoader(db.clone()), &spawner),
            finding_exceptions: dl(FindingExceptionsLoader(db.clone()), &spawner),
            exception_history: dl(ExceptionHistoryLoader(db.clone()), &spawner),
            runs: dl(RunLoader(db.clone()), &spawner),
            evidence_packs: dl(EvidencePackPageLoader(db.clone()), &spawner),
        }
    }
}

/// One window of a workspace's evidence packs (newest first) and the workspace's total.
pub struct EvidencePackPageLoader(pub Db);

impl Loader<(Uuid, store::Window)> for EvidencePackPageLoader {
    type Value = (i64, Arc<Vec<store::evidence::EvidencePackRow>>);
    type Error = AppError;

    async fn load(
        &self,
        keys: &[(Uuid, store::Window)],
    ) -> Result<HashMap<(Uuid, store::Window), Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        let workspaces: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let totals: HashMap<Uuid, i64> =
            store::evidence::count_packs_by_workspaces(&mut conn, &workspaces)
                .await?
                .into_iter()
                .collect();
        let mut windows: Vec<store::Window> = keys.iter().map(|k| k.1).collect();
        windows.sort_by_key(|w| (w.offset, w.limit));
        windows.dedup();
        let mut out = HashMap::new();
        for window in windows {
            let of_window: Vec<Uuid> = keys.iter().filter(|k| k.1 == window).map(|k| k.0).collect();
            // A zero-row window only asks for the totals.
            let rows = if window.limit == 0 {
                Vec::new()
            } else {
                store::evidence::list_packs_by_workspaces(&mut conn, &of_window, window).await?
            };
            for ws in of_window {
                let mine: Vec<_> = rows
                    .iter()
                    .filter(|r| r.workspace_id == ws)
                    .cloned()
                    .collect();
                out.insert(
                    (ws, window),
                    (totals.get(&ws).copied().unwrap_or(0), Arc::new(mine)),
                );
            }
        }
        Ok(out)
    }
}

/// Operation runs by (workspace, run id).
pub struct RunLoader(pub Db);

impl Loader<(Uuid, Uuid)> for RunLoader {
    type Value = crate::store::operation_runs::OperationRunRow;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[(Uuid, Uuid)],
    ) -> Result<HashMap<(Uuid, Uuid), Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        let workspaces: Vec<Uuid> = keys.iter().map(|k| k.0).collect();
        let ids: Vec<Uuid> = keys.iter().map(|k| k.1).collect();
        let rows = store::operation_runs::list_runs_by_ids(&mut conn, &workspaces, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.workspace_id, r.id), r))
            .collect())
    }
}

/// Tenants by id.
pub struct TenantLoader(pub Db);

impl Loader<Uuid> for TenantLoader {
    type Value = TenantRow;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        // Ownership first, then the rows filtered by their workspaces.
        let owners = store::tenants::list_tenant_workspaces(&mut conn, keys).await?;
        let workspaces: Vec<Uuid> = owners.iter().map(|(_, w)| *w).collect();
        let rows = store::tenants::list_tenants_by_ids(&mut conn, &workspaces, keys).await?;
        Ok(rows.into_iter().map(|t| (t.id, t)).collect())
    }
}

/// One filtered page of a tenant's policies.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyPageKey {
    pub workspace: Uuid,
    pub tenant: Uuid,
    pub query: store::policies::PolicyQuery,
    pub window: Window,
}

pub struct PolicyPageLoader(pub Db);

impl Loader<PolicyPageKey> for PolicyPageLoader {
    type Value = Arc<Vec<store::policies::PolicyRow>>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[PolicyPageKey],
    ) -> Result<HashMap<PolicyPageKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<(store::policies::PolicyQuery, Window), Vec<&PolicyPageKey>> =
            HashMap::new();
        for k in keys {
            groups
                .entry((k.query.clone(), k.window))
                .or_default()
                .push(k);
        }
        let mut conn = self.0.conn().await?;
        let mut out = HashMap::new();
        for ((query, window), ks) in groups {
            let workspaces: Vec<Uuid> = ks.iter().map(|k| k.workspace).collect();
            let tenants: Vec<Uuid> = ks.iter().map(|k| k.tenant).collect();
            let rows = store::policies::list_policies_by_tenants(
                &mut conn,
                &workspaces,
                &tenants,
                &query,
                window,
            )
            .await?;
            let mut grouped: HashMap<Uuid, Vec<store::policies::PolicyRow>> = HashMap::new();
            for r in rows {
                grouped.entry(r.tenant_id).or_default().push(r);
            }
            for k in ks {
                out.insert(
                    k.clone(),
                    Arc::new(grouped.remove(&k.tenant).unwrap_or_default()),
                );
            }
        }
        Ok(out)
    }
}

/// Filtered policy counts per tenant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyCountKey {
    pub workspace: Uuid,
    pub tenant: Uuid,
    pub query: store::policies::PolicyQuery,
}

pub struct PolicyCountLoader(pub Db);

impl Loader<PolicyCountKey> for PolicyCountLoader {
    type Value = i64;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[PolicyCountKey],
    ) -> Result<HashMap<PolicyCountKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<store::policies::PolicyQuery, Vec<&PolicyCountKey>> =
            HashMap::new();
        for k in keys {
            groups.entry(k.query.clone()).or_default().push(k);
        }
        let mut conn = self.0.conn().await?;
        let mut out = HashMap::new();
        for (query, ks) in groups {
            let workspaces: Vec<Uuid> = ks.iter().map(|k| k.workspace).collect();
            let tenants: Vec<Uuid> = ks.iter().map(|k| k.tenant).collect();
            let counts: HashMap<Uuid, i64> = store::policies::count_policies_by_tenants(
                &mut conn,
                &workspaces,
                &tenants,
                &query,
            )
            .await?
            .into_iter()
            .collect();
            for k in ks {
                out.insert(k.clone(), counts.get(&k.tenant).copied().unwrap_or(0));
            }
        }
        Ok(out)
    }
}

/// One newest-first page of a policy's versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VersionPageKey {
    pub workspace: Uuid,
    pub policy: Uuid,
    pub window: Window,
}

pub struct VersionPageLoader(pub Db);

impl Loader<VersionPageKey> for VersionPageLoader {
    type Value = Arc<Vec<store::policies::PolicyVersionRow>>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[VersionPageKey],
    ) -> Result<HashMap<VersionPageKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<Window, Vec<&VersionPageKey>> = HashMap::new();
        for k in keys {
            groups.entry(k.window).or_default().push(k);
        }
        let mut conn = self.0.conn().await?;
        let mut out = HashMap::new();
        for (window, ks) in groups {
            let workspaces: Vec<Uuid> = ks.iter().map(|k| k.workspace).collect();
            let policies: Vec<Uuid> = ks.iter().map(|k| k.policy).collect();
            let rows = store::policies::list_versions_by_policies(
                &mut conn,
                &workspaces,
                &policies,
                window,
            )
            .await?;
            let mut grouped: HashMap<Uuid, Vec<store::policies::PolicyVersionRow>> = HashMap::new();
            for r in rows {
                grouped.entry(r.policy_id).or_default().push(r);
            }
            for k in ks {
                out.insert(*k, Arc::new(grouped.remove(&k.policy).unwrap_or_default()));
            }
        }
        Ok(out)
    }
}

/// The payload of one version of a policy (its current one: `version_count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PayloadKey {
    pub workspace: Uuid,
    pub policy: Uuid,
    pub version: i32,
}

pub struct PayloadLoader(pub Db);

impl Loader<PayloadKey> for PayloadLoader {
    type Value = Arc<serde_json::Value>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[PayloadKey],
    ) -> Result<HashMap<PayloadKey, Self::Value>, Self::Error> {
        let workspaces: Vec<Uuid> = keys.iter().map(|k| k.workspace).collect();
        let pairs: Vec<(Uuid, i32)> = keys.iter().map(|k| (k.policy, k.version)).collect();
        let mut conn = self.0.conn().await?;
        let rows = store::policies::list_version_payloads(&mut conn, &workspaces, &pairs).await?;
        let mut by_policy: HashMap<Uuid, Arc<serde_json::Value>> = rows
            .into_iter()
            .map(|(id, payload)| (id, Arc::new(payload)))
            .collect();
        Ok(keys
            .iter()
            .filter_map(|k| by_policy.remove(&k.policy).map(|p| (*k, p)))
            .collect())
    }
}

/// A request-scoped batch spawner and the pump that runs its fetches.
pub fn request_batches() -> (BatchSpawner, BatchPump) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    (BatchSpawner::Request(tx), BatchPump(rx))
}

/// Receives the fetches of a [`BatchSpawner::Request`].
pub struct BatchPump(
    tokio::sync::mpsc::UnboundedReceiver<futures_util::future::BoxFuture<'static, ()>>,
);

/// Drives `work` (the GraphQL execution) and the request's batch fetches in one task,
/// polling the execution first, so every resolver of a level has queued its keys before
/// the level's batch is collected.
pub async fn run_with_batches<T>(work: impl std::future::Future<Output = T>, pump: BatchPump) -> T {
    use futures_util::{stream::FuturesUnordered, StreamExt};
    let mut rx = pump.0;
    let mut fetches = FuturesUnordered::new();
    let work = std::pin::pin!(work);
    let mut work = work;
    loop {
        tokio::select! {
            biased;
            out = &mut work => return out,
            Some(f) = rx.recv() => fetches.push(f),
            Some(()) = fetches.next(), if !fetches.is_empty() => {}
        }
    }
}

/// Keys of loaders for rows that belong to a workspace: (workspace, id).
pub type WsKey = (Uuid, Uuid);

/// Groups rows under their parent key; every key asked for gets a (possibly empty) list.
fn group_rows<R: Clone>(
    keys: &[WsKey],
    rows: Vec<R>,
    parent: impl Fn(&R) -> Uuid,
) -> HashMap<WsKey, Arc<Vec<R>>> {
    let mut grouped: HashMap<Uuid, Vec<R>> = HashMap::new();
    for r in rows {
        grouped.entry(parent(&r)).or_default().push(r);
    }
    keys.iter()
        .map(|k| (*k, Arc::new(grouped.get(&k.1).cloned().unwrap_or_default())))
        .collect()
}

fn split(keys: &[WsKey]) -> (Vec<Uuid>, Vec<Uuid>) {
    keys.iter().copied().unzip()
}

/// Policies by (workspace, id).
pub struct PolicyLoader(pub Db);

impl Loader<WsKey> for PolicyLoader {
    type Value = store::policies::PolicyRow;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::policies::list_policies_by_ids(&mut conn, &ws, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.workspace_id, r.id), r))
            .collect())
    }
}

/// Baselines by (workspace, id).
pub struct BaselineLoader(pub Db);

impl Loader<WsKey> for BaselineLoader {
    type Value = store::baselines::BaselineRow;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::baselines::list_baselines_by_ids(&mut conn, &ws, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.workspace_id, r.id), r))
            .collect())
    }
}

/// Users by id (assignees).
pub struct UserLoader(pub Db);

impl Loader<Uuid> for UserLoader {
    type Value = UserRow;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        let rows = store::users::list_users_by_ids(&mut conn, keys).await?;
        Ok(rows.into_iter().map(|u| (u.id, u)).collect())
    }
}

/// A finding's comments, oldest first.
pub struct CommentsLoader(pub Db);

impl Loader<WsKey> for CommentsLoader {
    type Value = Arc<Vec<store::findings::CommentRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::findings::list_comments_by_findings(&mut conn, &ws, &ids).await?;
        Ok(group_rows(keys, rows, |r| r.finding_id))
    }
}

/// A finding's history, oldest first.
pub struct HistoryLoader(pub Db);

impl Loader<WsKey> for HistoryLoader {
    type Value = Arc<Vec<store::findings::HistoryRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::findings::list_history_by_findings(&mut conn, &ws, &ids).await?;
        Ok(group_rows(keys, rows, |r| r.finding_id))
    }
}

/// A baseline's versions, newest first.
pub struct BaselineVersionsLoader(pub Db);

impl Loader<WsKey> for BaselineVersionsLoader {
    type Value = Arc<Vec<store::baselines::BaselineVersionRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::baselines::list_versions_by_baselines(&mut conn, &ws, &ids).await?;
        Ok(group_rows(keys, rows, |r| r.baseline_id))
    }
}

/// A baseline's assignments.
pub struct AssignmentsLoader(pub Db);

impl Loader<WsKey> for AssignmentsLoader {
    type Value = Arc<Vec<store::baselines::AssignmentRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::baselines::list_assignments(&mut conn, &ws, Some(&ids), None).await?;
        Ok(group_rows(keys, rows, |r| r.baseline_id))
    }
}

/// The items of one baseline version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ItemsKey {
    pub workspace: Uuid,
    pub baseline: Uuid,
    pub version: i32,
}

pub struct BaselineItemsLoader(pub Db);

impl Loader<ItemsKey> for BaselineItemsLoader {
    type Value = Arc<Vec<store::baselines::BaselineItemRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[ItemsKey]) -> Result<HashMap<ItemsKey, Self::Value>, Self::Error> {
        let ws: Vec<Uuid> = keys.iter().map(|k| k.workspace).collect();
        let pairs: Vec<(Uuid, i32)> = keys.iter().map(|k| (k.baseline, k.version)).collect();
        let mut conn = self.0.conn().await?;
        let rows = store::baselines::list_items_by_versions(&mut conn, &ws, &pairs).await?;
        let mut grouped: HashMap<(Uuid, i32), Vec<store::baselines::BaselineItemRow>> =
            HashMap::new();
        for r in rows {
            grouped
                .entry((r.baseline_id, r.version))
                .or_default()
                .push(r);
        }
        Ok(keys
            .iter()
            .map(|k| {
                (
                    *k,
                    Arc::new(grouped.remove(&(k.baseline, k.version)).unwrap_or_default()),
                )
            })
            .collect())
    }
}

/// One filtered, sorted page of findings under a workspace, tenant or policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FindingPageKey {
    pub parent: store::findings::FindingParent,
    pub workspace: Uuid,
    pub id: Uuid,
    pub query: store::findings::FindingQuery,
    pub window: Window,
}

pub struct FindingPageLoader(pub Db);

impl Loader<FindingPageKey> for FindingPageLoader {
    type Value = Arc<Vec<store::findings::FindingRow>>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[FindingPageKey],
    ) -> Result<HashMap<FindingPageKey, Self::Value>, Self::Error> {
        type Group<'a> = (
            store::findings::FindingParent,
            store::findings::FindingQuery,
            Window,
        );
        let mut groups: HashMap<Group<'_>, Vec<&FindingPageKey>> = HashMap::new();
        for k in keys {
            groups
                .entry((k.parent, k.query.clone(), k.window))
                .or_default()
                .push(k);
        }
        let mut conn = self.0.conn().await?;
        let mut out = HashMap::new();
        for ((parent, query, window), ks) in groups {
            let ws: Vec<Uuid> = ks.iter().map(|k| k.workspace).collect();
            let ids: Vec<Uuid> = ks.iter().map(|k| k.id).collect();
            let rows = store::findings::list_findings(&mut conn, parent, &ws, &ids, &query, window)
                .await?;
            let mut grouped: HashMap<Uuid, Vec<store::findings::FindingRow>> = HashMap::new();
            for r in rows {
                let key = match parent {
                    store::findings::FindingParent::Workspace => r.workspace_id,
                    store::findings::FindingParent::Tenant => r.tenant_id,
                    store::findings::FindingParent::Policy => r.policy_id.unwrap_or_default(),
                };
                grouped.entry(key).or_default().push(r);
            }
            for k in ks {
                out.insert(
                    k.clone(),
                    Arc::new(grouped.remove(&k.id).unwrap_or_default()),
                );
            }
        }
        Ok(out)
    }
}

/// Filtered finding counts under a workspace, tenant or policy.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FindingCountKey {
    pub parent: store::findings::FindingParent,
    pub workspace: Uuid,
    pub id: Uuid,
    pub query: store::findings::FindingQuery,
}

pub struct FindingCountLoader(pub Db);

impl Loader<FindingCountKey> for FindingCountLoader {
    type Value = i64;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[FindingCountKey],
    ) -> Result<HashMap<FindingCountKey, Self::Value>, Self::Error> {
        let mut groups: HashMap<
            (
                store::findings::FindingParent,
                store::findings::FindingQuery,
            ),
            Vec<&FindingCountKey>,
        > = HashMap::new();
        for k in keys {
            groups
                .entry((k.parent, k.query.clone()))
                .or_default()
                .push(k);
        }
        let mut conn = self.0.conn().await?;
        let mut out = HashMap::new();
        for ((parent, query), ks) in groups {
            let ws: Vec<Uuid> = ks.iter().map(|k| k.workspace).collect();
            let ids: Vec<Uuid> = ks.iter().map(|k| k.id).collect();
            let counts: HashMap<Uuid, i64> =
                store::findings::count_findings(&mut conn, parent, &ws, &ids, &query)
                    .await?
                    .into_iter()
                    .collect();
            for k in ks {
                out.insert(k.clone(), counts.get(&k.id).copied().unwrap_or(0));
            }
        }
        Ok(out)
    }
}

/// Current compliance of tenants, by (workspace, tenant).
pub struct ComplianceLoader(pub Db);

impl Loader<WsKey> for ComplianceLoader {
    type Value = crate::service::findings::Compliance;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let by_tenant: HashMap<Uuid, crate::service::findings::Compliance> =
            crate::service::findings::compliance_by_tenant(&mut conn, &ws, Some(&ids))
                .await?
                .into_iter()
                .collect();
        Ok(keys
            .iter()
            .map(|k| (*k, by_tenant.get(&k.1).cloned().unwrap_or_default()))
            .collect())
    }
}

/// The snapshots a trend needs: one scope (a tenant, or the workspace itself when
/// `tenant` is `None`) from a first day on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TrendKey {
    pub workspace: Uuid,
    pub tenant: Option<Uuid>,
    pub from: chrono::NaiveDate,
}

pub struct TrendLoader(pub Db);

impl Loader<TrendKey> for TrendLoader {
    type Value = Arc<Vec<store::findings::SnapshotRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[TrendKey]) -> Result<HashMap<TrendKey, Self::Value>, Self::Error> {
        let mut by_from: HashMap<chrono::NaiveDate, Vec<&TrendKey>> = HashMap::new();
        for k in keys {
            by_from.entry(k.from).or_default().push(k);
        }
        let mut conn = self.0.conn().await?;
        let mut out = HashMap::new();
        for (from, ks) in by_from {
            let ws: Vec<Uuid> = ks.iter().map(|k| k.workspace).collect();
            let tenants: Vec<Uuid> = ks.iter().filter_map(|k| k.tenant).collect();
            let whole = ks.iter().any(|k| k.tenant.is_none());
            let mut rows =
                store::findings::list_snapshots(&mut conn, &ws, &tenants, whole, from).await?;
            rows.sort_by_key(|r| r.day);
            for k in ks {
                let mine: Vec<store::findings::SnapshotRow> = rows
                    .iter()
                    .filter(|r| r.workspace_id == k.workspace && r.tenant_id == k.tenant)
                    .cloned()
                    .collect();
                out.insert(*k, Arc::new(mine));
            }
        }
        Ok(out)
    }
}

/// Every baseline of a workspace, by name (a workspace has few: paged in memory).
pub struct BaselinesByWorkspaceLoader(pub Db);

impl Loader<Uuid> for BaselinesByWorkspaceLoader {
    type Value = Arc<Vec<store::baselines::BaselineRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        let rows = store::baselines::list_baselines_by_workspaces(&mut conn, keys).await?;
        let pairs: Vec<WsKey> = keys.iter().map(|k| (*k, *k)).collect();
        Ok(group_rows(&pairs, rows, |r| r.workspace_id)
            .into_iter()
            .map(|((w, _), v)| (w, v))
            .collect())
    }
}

/// Current compliance of whole workspaces (every evaluated tenant).
pub struct WorkspaceComplianceLoader(pub Db);

impl Loader<Uuid> for WorkspaceComplianceLoader {
    type Value = crate::service::findings::Compliance;
    type Error = AppError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        let mut conn = self.0.conn().await?;
        crate::service::findings::compliance_by_workspace(&mut conn, keys).await
    }
}

/// Findings by (workspace, id).
pub struct FindingLoader(pub Db);

impl Loader<WsKey> for FindingLoader {
    type Value = store::findings::FindingRow;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::findings::list_findings_by_ids(&mut conn, &ws, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.workspace_id, r.id), r))
            .collect())
    }
}

/// Exceptions by (workspace, id).
pub struct ExceptionLoader(pub Db);

impl Loader<WsKey> for ExceptionLoader {
    type Value = store::exceptions::ExceptionRow;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::exceptions::list_exceptions_by_ids(&mut conn, &ws, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|r| ((r.workspace_id, r.id), r))
            .collect())
    }
}

/// A finding's exceptions, oldest request first.
pub struct FindingExceptionsLoader(pub Db);

impl Loader<WsKey> for FindingExceptionsLoader {
    type Value = Arc<Vec<store::exceptions::ExceptionRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::exceptions::list_exceptions_by_findings(&mut conn, &ws, &ids).await?;
        Ok(group_rows(keys, rows, |r| r.finding_id))
    }
}

/// An exception's history, oldest first.
pub struct ExceptionHistoryLoader(pub Db);

impl Loader<WsKey> for ExceptionHistoryLoader {
    type Value = Arc<Vec<store::exceptions::ExceptionHistoryRow>>;
    type Error = AppError;

    async fn load(&self, keys: &[WsKey]) -> Result<HashMap<WsKey, Self::Value>, Self::Error> {
        let (ws, ids) = split(keys);
        let mut conn = self.0.conn().await?;
        let rows = store::exceptions::list_history_by_exceptions(&mut conn, &ws, &ids).await?;
        Ok(group_rows(keys, rows, |r| r.exception_id))
    }
}
