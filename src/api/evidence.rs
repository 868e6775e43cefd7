//! Evidence packs: signed, verifiable bundles for auditors, and the keys that sign them.
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, ID};
use uuid::Uuid;

use super::{
    access, app,
    errors::ApiResult,
    node::{expect_global_id, to_global_id, NodeType},
    operation_run::OperationRun,
    pagination::{connection, Conn, PageArgs},
    scalars::DateTime,
    state,
    tenant::Tenant,
    user::User,
    workspace::Workspace,
};
use crate::{
    authz::Capability,
    domain::ids::WorkspaceId,
    error::AppResult,
    service::{self, evidence::NewPackRequest},
    store::{self, evidence::EvidencePackRow, Window},
};

/// Where a pack is.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum EvidencePackStatus {
    /// Waiting for a worker.
    Queued,
    /// Being built (see `operationRun` for progress).
    Building,
    /// Built, signed and stored; it never changes again.
    Ready,
    /// The build failed or was cancelled (see `error`).
    Failed,
}

/// A signed, immutable bundle of a workspace's evidence for a period.
#[derive(Clone, Debug)]
pub struct EvidencePack(pub EvidencePackRow);

impl EvidencePack {
    /// Loads a pack the caller may see (`evidence_pack.read`), else `None`.
    pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> AppResult<Option<Self>> {
        let mut conn = app(ctx).db.conn().await?;
        let Some(ws) = store::evidence::find_pack_workspace(&mut conn, id).await? else {
            return Ok(None);
        };
        if !access(ctx)
            .can_see(WorkspaceId(ws), Capability::EvidencePackRead)
            .await?
        {
            return Ok(None);
        }
        Ok(store::evidence::find_pack(&mut conn, WorkspaceId(ws), id)
            .await?
            .map(EvidencePack))
    }
}

#[Object]
impl EvidencePack {
    /// Opaque global id (also the `{id}` of `GET /evidence-packs/{id}/download`).
    pub async fn id(&self) -> ID {
        to_global_id(NodeType::EvidencePack, self.0.id)
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn status(&self) -> EvidencePackStatus {
        match self.0.status.as_str() {
            "BUILDING" => EvidencePackStatus::Building,
            "READY" => EvidencePackStatus::Ready,
            "FAILED" => EvidencePackStatus::Failed,
            _ => EvidencePackStatus::Queued,
        }
    }
    /// The tenants the pack covers, by display name.
    async fn tenants(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Tenant>> {
        let found = state(ctx)
            .loaders
            .tenants
            .load_many(self.0.tenant_ids.iter().copied())
            .await
            .api()?;
        let mut out: Vec<Tenant> = found
            .into_values()
            .filter(|t| t.workspace_id == self.0.workspace_id)
            .map(Tenant)
            .collect();
        out.sort_by(|a, b| (&a.0.display_name, a.0.id).cmp(&(&b.0.display_name, b.0.id)));
        Ok(out)
    }
    async fn period_start(&self) -> DateTime {
        self.0.period_start.into()
    }
    async fn period_end(&self) -> DateTime {
        self.0.period_end.into()
    }
    /// Who asked for it (null when the system did).
    async fn created_by(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<User>> {
        match self.0.created_by {
            Some(id) => Ok(state(ctx)
                .loaders
                .users
                .load_one(id)
                .await
                .api()?
                .map(User::from)),
            None => Ok(None),
        }
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    /// When the build finished (READY packs).
    async fn built_at(&self) -> Option<DateTime> {
        self.0.built_at.map(Into::into)
    }
    /// Size of the ZIP in bytes (READY packs).
    async fn size_bytes(&self) -> Option<f64> {
        self.0.size_bytes.map(|n| n as f64)
    }
    /// SHA-256 of the whole ZIP, lower-case hex (READY packs).
    async fn sha256(&self) -> Option<&str> {
        self.0.sha256.as_deref()
    }
    /// The signed manifest, as in the pack's `manifest.json` (READY packs).
    async fn manifest(&self) -> Option<Json<serde_json::Value>> {
        self.0.manifest.clone().map(Json)
    }
    /// Id of the key that signed the manifest (see `Query.evidenceSigningKeys`).
    async fn signing_key_id(&self) -> Option<&str> {
        self.0.signing_key_id.as_deref()
    }
    /// Why the build failed (FAILED packs).
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// The build run, with its progress.
    async fn operation_run(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<OperationRun>> {
        let Some(run) = self.0.operation_run_id else {
            return Ok(None);
        };
        Ok(state(ctx)
            .loaders
            .runs
            .load_one((self.0.workspace_id, run))
            .await
            .api()?
            .map(OperationRun))
    }
    /// A short-lived signed download link: a path and query to append to the server's
    /// address, valid 15 minutes, no bearer token needed. It names the caller: downloads
    /// through it are audited as theirs, and it stops working if they lose the capability.
    /// Null unless the pack is READY and the caller holds `evidence_pack.download`.
    async fn download_url(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        if self.0.status != "READY" {
            return Ok(None);
        }
        let may = access(ctx)
            .can_see(
                WorkspaceId(self.0.workspace_id),
                Capability::EvidencePackDownload,
            )
            .await
            .api()?;
        if !may {
            return Ok(None);
        }
        // The link names the caller: downloads through it are audited as theirs.
        let email = access(ctx).user_email().api()?.to_string();
        let Some(user) = state(ctx)
            .loaders
            .users_by_email
            .load_one(email)
            .await
            .api()?
        else {
            return Ok(None);
        };
        Ok(Some(service::evidence::download_url(
            app(ctx),
            self.0.id,
            user.id,
        )))
    }
}

/// A public key that signs evidence packs.
#[derive(SimpleObject, Clone)]
pub struct EvidenceSigningKey {
    /// `ed25519-` and the first 16 hex digits of the key's SHA-256; manifests name it.
    pub id: String,
    /// Always `Ed25519`.
    pub algorithm: String,
    /// The 32-byte public key, base64; pass it to `tenantatlas evidence verify --public-key`.
    pub public_key: String,
    pub created_at: DateTime,
    /// Whether this process signs new packs with it.
    pub current: bool,
}

/// `Workspace.evidencePacks`: capability `evidence_pack.read`; newest first.
pub async fn workspace_evidence_packs(
    ctx: &Context<'_>,
    workspace: WorkspaceId,
    page: PageArgs,
) -> AppResult<Conn<EvidencePack>> {
    access(ctx)
        .require(workspace, Capability::EvidencePackRead)
        .await?;
    // The total first (it bounds backward paging), then the window; both batched across
    // workspaces.
    let loaders = &state(ctx).loaders;
    let probe = Window {
        offset: 0,
        limit: 0,
    };
    let (total, _) = loaders
        .evidence_packs
        .load_one((workspace.0, probe))
        .await?
        .unwrap_or_default();
    let window: Window = page.window(total as usize)?;
    let (_, rows) = loaders
        .evidence_packs
        .load_one((workspace.0, window))
        .await?
        .unwrap_or_default();
    Ok(connection(
        rows.iter().cloned().map(EvidencePack).collect(),
        window,
        total,
    ))
}

/// `Query.evidenceSigningKeys`: any authenticated caller (public keys are public).
pub async fn signing_keys(ctx: &Context<'_>) -> AppResult<Vec<EvidenceSigningKey>> {
    access(ctx).user_email()?;
    let current = app(ctx)
        .evidence
        .signer(&app(ctx).db)
        .await?
        .key_id()
        .to_string();
    let mut conn = app(ctx).db.conn().await?;
    Ok(store::evidence::list_signing_keys(&mut conn)
        .await?
        .into_iter()
        .map(|k| EvidenceSigningKey {
            current: k.id == current,
            id: k.id,
            algorithm: k.algorithm,
            public_key: k.public_key,
            created_at: k.created_at.into(),
        })
        .collect())
}

/// Input of `createEvidencePack`.
#[derive(InputObject)]
pub struct CreateEvidencePackInput {
    pub workspace_id: ID,
    /// 1 to 200 characters.
    pub title: String,
    /// 1 to 100 tenants of the workspace.
    pub tenant_ids: Vec<ID>,
    /// Start of the period the findings, exceptions and audit excerpt cover (not in the
    /// future).
    pub period_start: DateTime,
    /// End of the period (not before `periodStart`).
    pub period_end: DateTime,
}

/// Input of `deleteEvidencePack`.
#[derive(InputObject)]
pub struct DeleteEvidencePackInput {
    pub evidence_pack_id: ID,
}

/// Result of `createEvidencePack`.
#[derive(SimpleObject)]
pub struct CreateEvidencePackPayload {
    /// The QUEUED pack.
    pub evidence_pack: EvidencePack,
    /// Its build (kind EVIDENCE_PACK_BUILD); follow it with `operationRunProgress`.
    pub operation_run: OperationRun,
}

/// Result of `deleteEvidencePack`.
#[derive(SimpleObject)]
pub struct DeleteEvidencePackPayload {
    /// Global id of the deleted pack.
    pub deleted_evidence_pack_id: ID,
}

/// Evidence-pack mutations.
#[derive(Default)]
pub struct EvidenceMutation;

#[Object]
impl EvidenceMutation {
    /// Queues the build of a signed evidence pack. Capability `evidence_pack.create`.
    async fn create_evidence_pack(
        &self,
        ctx: &Context<'_>,
        input: CreateEvidencePackInput,
    ) -> async_graphql::Result<CreateEvidencePackPayload> {
        access(ctx).user_email().api()?;
        let workspace = Workspace::parse_id(&input.workspace_id).api()?;
        let tenants = input
            .tenant_ids
            .iter()
            .map(|id| expect_global_id(id, NodeType::Tenant, "tenantIds"))
            .collect::<AppResult<Vec<_>>>()
            .api()?;
        let (pack, run) = service::evidence::create_evidence_pack(
            app(ctx),
            access(ctx),
            NewPackRequest {
                workspace,
                title: input.title,
                tenants,
                period_start: input.period_start.0,
                period_end: input.period_end.0,
            },
        )
        .await
        .api()?;
        Ok(CreateEvidencePackPayload {
            evidence_pack: EvidencePack(pack),
            operation_run: OperationRun(run),
        })
    }

    /// Deletes a READY or FAILED pack and its file; the audit trail keeps its digest.
    /// Capability `evidence_pack.delete`.
    async fn delete_evidence_pack(
        &self,
        ctx: &Context<'_>,
        input: DeleteEvidencePackInput,
    ) -> async_graphql::Result<DeleteEvidencePackPayload> {
        access(ctx).user_email().api()?;
        let id = expect_global_id(
            &input.evidence_pack_id,
            NodeType::EvidencePack,
            "evidencePackId",
        )
        .api()?;
        let row = service::evidence::delete_evidence_pack(app(ctx), access(ctx), id)
            .await
            .api()?;
        Ok(DeleteEvidencePackPayload {
            deleted_evidence_pack_id: to_global_id(NodeType::EvidencePack, row.id),
        })
    }
}
