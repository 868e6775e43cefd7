//! Authorization: casbin (RBAC with domains) with rules in PostgreSQL.
//!
//! The enforcer is loaded once per process and kept in memory; it is reloaded when another
//! process announces a change (see `events`), and updated in place right after this
//! process commits a grant or revoke. Checks never reload rules.
//!
//! Per request, [`Access`] reads the caller's grants once and has casbin decide every
//! `(role, capability)` pair for the roles the caller holds, so the number of `enforce`
//! calls in a request is bounded by roles x capabilities and never grows with the number of
//! rows a query returns; each resolver's check is then a lookup.
pub mod adapter;
pub mod capability;

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use casbin::{CoreApi, DefaultModel, Enforcer, MgmtApi};
use tokio::sync::RwLock;
use uuid::Uuid;

pub use capability::Capability;

use crate::{
    auth::Principal,
    db::Db,
    domain::{
        ids::WorkspaceId,
        roles::{user_subject, Role, PLATFORM_DOMAIN},
    },
    error::{AppError, AppResult},
};

/// The casbin model, compiled in.
pub const MODEL: &str = include_str!("model.conf");

/// The process-wide enforcer.
pub struct Authz {
    enforcer: RwLock<Enforcer>,
    enforce_calls: AtomicU64,
    /// Bumped whenever the rules change, so cached grants (long-lived WebSocket
    /// connections) are recomputed.
    generation: AtomicU64,
}

impl Authz {
    /// Loads the model and every rule from the database.
    pub async fn load(db: &Db) -> AppResult<Self> {
        let model = DefaultModel::from_str(MODEL).await?;
        let mut enforcer = Enforcer::new(model, adapter::DieselAdapter::new(db.clone())).await?;
        // Grants are written by the services inside their own transactions (together with
        // the audit event); the in-memory copy is updated after commit.
        enforcer.enable_auto_save(false);
        Ok(Self {
            enforcer: RwLock::new(enforcer),
            enforce_calls: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        })
    }

    /// Re-reads every rule (another process changed them).
    pub async fn reload(&self) -> AppResult<()> {
        self.enforcer.write().await.load_policy().await?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Changes with every rule change.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// How many `enforce` calls this process has made (tests use it).
    pub fn enforce_calls(&self) -> u64 {
        self.enforce_calls.load(Ordering::Relaxed)
    }

    /// `(role, domain)` pairs granted to `subject`.
    pub async fn grants_of(&self, subject: &str) -> Vec<(String, String)> {
        self.enforcer
            .read()
            .await
            .get_filtered_grouping_policy(0, vec![subject.to_string()])
            .into_iter()
            .filter_map(|rule| match rule.as_slice() {
                [_, role, domain, ..] => Some((role.clone(), domain.clone())),
                _ => None,
            })
            .collect()
    }

    /// `(subject, role)` pairs granted in `domain`.
    pub async fn members_of(&self, domain: &str) -> Vec<(String, String)> {
        self.enforcer
            .read()
            .await
            .get_filtered_grouping_policy(2, vec![domain.to_string()])
            .into_iter()
            .filter_map(|rule| match rule.as_slice() {
                [subject, role, ..] => Some((subject.clone(), role.clone())),
                _ => None,
            })
            .collect()
    }

    /// Whether `role` carries `capability` (in any domain it is granted in).
    pub async fn role_can(&self, role: &str, capability: Capability) -> AppResult<bool> {
        self.enforce_calls.fetch_add(1, Ordering::Relaxed);
        let (obj, act) = capability.parts();
        Ok(self
            .enforcer
            .read()
            .await
            .enforce((role, PLATFORM_DOMAIN, obj, act))?)
    }

    /// Applies a committed grant to the in-memory rules.
    pub async fn apply_grant(&self, subject: &str, role: Role, domain: &str) -> AppResult<()> {
        self.enforcer
            .write()
            .await
            .add_grouping_policy(vec![subject.into(), role.as_str().into(), domain.into()])
            .await?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    /// Applies a committed revoke to the in-memory rules. casbin-rs's incremental role
    /// links fail to delete a domain link in place ("Role Manager Error: NotFound"), so the
    /// rules are re-read instead; revokes are rare.
    pub async fn apply_revoke(&self, _subject: &str, _role: Role, _domain: &str) -> AppResult<()> {
        self.reload().await
    }
}

/// The caller's grants, read once per request.
#[derive(Debug, Default, Clone)]
pub struct Grants {
    /// domain (workspace id or `*`) -> roles
    by_domain: HashMap<String, BTreeSet<String>>,
    /// role -> the capabilities it carries, decided by casbin once per request
    capabilities: HashMap<String, BTreeSet<Capability>>,
}

impl Grants {
    fn roles_in(&self, workspace: WorkspaceId) -> BTreeSet<String> {
        let mut roles = self
            .by_domain
            .get(&workspace.to_string())
            .cloned()
            .unwrap_or_default();
        if let Some(platform) = self.by_domain.get(PLATFORM_DOMAIN) {
            roles.extend(platform.iter().cloned());
        }
        roles
    }
}

/// Which workspaces a caller may see at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    Only(Vec<Uuid>),
}

/// A caller's access for one request (or one WebSocket connection).
pub struct Access {
    principal: Principal,
    authz: Arc<Authz>,
    /// The caller's grants with the rule generation they were computed at.
    grants: std::sync::Mutex<Option<(u64, Arc<Grants>)>>,
    /// Only one computation at a time (concurrent resolvers wait for it).
    computing: tokio::sync::Mutex<()>,
}

impl Access {
    pub fn new(principal: Principal, authz: Arc<Authz>) -> Self {
        Self {
            principal,
            authz,
            grants: std::sync::Mutex::new(None),
            computing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The authenticated user's e-mail, or UNAUTHENTICATED.
    pub fn user_email(&self) -> AppResult<&str> {
        self.principal.require_user()
    }

    /// Computes the caller's grants now (before a request executes), so resolvers running
    /// side by side never wait on each other for them. Errors surface later, per field.
    pub async fn preload(&self) {
        if self.principal.require_user().is_ok() {
            let _ = self.grants().await;
        }
    }

    /// Fails with UNAUTHENTICATED unless the caller is a user or the command line.
    pub fn user_email_or_system(&self) -> AppResult<()> {
        match self.principal {
            Principal::System(_) => Ok(()),
            _ => self.user_email().map(|_| ()),
        }
    }

    /// Who appears in the audit trail for this caller.
    pub fn actor(&self) -> String {
        self.principal.actor()
    }

    /// The caller's grants and what each of their roles may do. Computed once per rule
    /// generation (so a revoke reaches open WebSocket connections at once): every
    /// (role, capability) pair is decided by casbin here, so later checks are lookups and
    /// the number of `enforce` calls depends only on how many roles the caller holds.
    async fn grants(&self) -> AppResult<Arc<Grants>> {
        if let Principal::System(_) = self.principal {
            return Ok(Arc::new(Grants::default()));
        }
        let email = self.user_email()?.to_string();
        if let Some(g) = self.cached_grants()? {
            return Ok(g);
        }
        let _guard = self.computing.lock().await;
        if let Some(g) = self.cached_grants()? {
            return Ok(g);
        }
        let generation = self.authz.generation();
        let mut grants = Grants::default();
        for (role, domain) in self.authz.grants_of(&user_subject(&email)).await {
            grants.by_domain.entry(domain).or_default().insert(role);
        }
        let roles: BTreeSet<String> = grants.by_domain.values().flatten().cloned().collect();
        for role in roles {
            let mut caps = BTreeSet::new();
            for cap in Capability::ALL {
                if self.authz.role_can(&role, *cap).await? {
                    caps.insert(*cap);
                }
            }
            grants.capabilities.insert(role, caps);
        }
        let grants = Arc::new(grants);
        *self
            .grants
            .lock()
            .map_err(|_| AppError::internal("authorization cache poisoned"))? =
            Some((generation, grants.clone()));
        Ok(grants)
    }

    fn cached_grants(&self) -> AppResult<Option<Arc<Grants>>> {
        let current = self.authz.generation();
        Ok(self
            .grants
            .lock()
            .map_err(|_| AppError::internal("authorization cache poisoned"))?
            .as_ref()
            .filter(|(g, _)| *g == current)
            .map(|(_, grants)| grants.clone()))
    }

    async fn role_can(&self, role: &str, capability: Capability) -> AppResult<bool> {
        Ok(self
            .grants()
            .await?
            .capabilities
            .get(role)
            .is_some_and(|caps| caps.contains(&capability)))
    }

    /// Roles the caller holds in `workspace`, platform roles included.
    pub async fn roles_in(&self, workspace: WorkspaceId) -> AppResult<BTreeSet<String>> {
        Ok(self.grants().await?.roles_in(workspace))
    }

    /// Every `(role, domain)` the caller holds.
    pub async fn all_grants(&self) -> AppResult<Vec<(String, String)>> {
        let grants = self.grants().await?;
        let mut out: Vec<(String, String)> = grants
            .by_domain
            .iter()
            .flat_map(|(d, roles)| roles.iter().map(move |r| (r.clone(), d.clone())))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Whether the caller holds `capability` in `workspace` (false without any role there).
    pub async fn can(&self, workspace: WorkspaceId, capability: Capability) -> AppResult<bool> {
        if let Principal::System(_) = self.principal {
            return Ok(true);
        }
        for role in self.roles_in(workspace).await? {
            if self.role_can(&role, capability).await? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The check every resolver makes: UNAUTHENTICATED without a user, NOT_FOUND without
    /// any role in the workspace (existence is not revealed), FORBIDDEN with a role but
    /// without the capability.
    pub async fn require(&self, workspace: WorkspaceId, capability: Capability) -> AppResult<()> {
        if let Principal::System(_) = self.principal {
            return Ok(());
        }
        let roles = self.roles_in(workspace).await?;
        if roles.is_empty() {
            return Err(AppError::not_found("workspace"));
        }
        for role in &roles {
            if self.role_can(role, capability).await? {
                return Ok(());
            }
        }
        Err(AppError::Forbidden(format!(
            "your role in this workspace does not include {capability}"
        )))
    }

    /// Like [`Access::require`], but any failure reads as "not found": for lookups by id
    /// where even FORBIDDEN would say too much (e.g. `node(id:)` returns null).
    pub async fn can_see(&self, workspace: WorkspaceId, capability: Capability) -> AppResult<bool> {
        match self.require(workspace, capability).await {
            Ok(()) => Ok(true),
            Err(AppError::NotFound(_)) | Err(AppError::Forbidden(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A platform capability (granted in the `*` domain).
    pub async fn require_platform(&self, capability: Capability) -> AppResult<()> {
        if let Principal::System(_) = self.principal {
            return Ok(());
        }
        let grants = self.grants().await?;
        if let Some(roles) = grants.by_domain.get(PLATFORM_DOMAIN) {
            for role in roles {
                if self.role_can(role, capability).await? {
                    return Ok(());
                }
            }
        }
        Err(AppError::Forbidden(format!(
            "{capability} needs a platform role that includes it"
        )))
    }

    /// Capabilities the caller holds in `workspace`.
    pub async fn capabilities_in(&self, workspace: WorkspaceId) -> AppResult<Vec<Capability>> {
        let mut out = Vec::new();
        for cap in Capability::ALL {
            if self.can(workspace, *cap).await? {
                out.push(*cap);
            }
        }
        Ok(out)
    }

    /// Workspaces whose existence the caller may learn.
    pub async fn visibility(&self) -> AppResult<Visibility> {
        if let Principal::System(_) = self.principal {
            return Ok(Visibility::All);
        }
        let grants = self.grants().await?;
        if grants
            .by_domain
            .get(PLATFORM_DOMAIN)
            .is_some_and(|r| !r.is_empty())
        {
            return Ok(Visibility::All);
        }
        let mut ids: Vec<Uuid> = grants
            .by_domain
            .keys()
            .filter_map(|d| Uuid::parse_str(d).ok())
            .collect();
        ids.sort();
        Ok(Visibility::Only(ids))
    }
}
