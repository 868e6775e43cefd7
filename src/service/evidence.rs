//! Evidence packs: creating one (validated, with its EVIDENCE_PACK_BUILD run), building it
//! (the run), deleting it, and authorising downloads.
//!
//! A build reads everything in one `REPEATABLE READ READ ONLY` transaction, so a pack is a
//! consistent picture of one moment even while syncs and evaluations go on. It streams:
//! policies are read a page at a time and written straight into the ZIP by a blocking
//! writer thread behind a bounded channel, and per-tenant CSVs are spooled to a scratch
//! file, so memory does not grow with the number of policies. The finished file is moved
//! into storage in one step and the pack becomes READY; a READY pack never changes.
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    io::{Read, Seek, Write},
    path::PathBuf,
    sync::Arc,
};

use chrono::{DateTime, Utc};
use diesel_async::AsyncConnection;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::Digest;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{
    findings::{compliance_by_tenant, compliance_by_workspace, trend_points},
    inventory::{Control, Progress},
    operations::kinds,
    record, AppContext, Audit,
};
use crate::{
    authz::{Access, Capability},
    domain::{
        audit::GENESIS_HASH,
        contracts::{find_contract, CONTRACTS},
        evidence::{
            csv_line, html_escape, json_cell, path_segment, permission_posture, register_sections,
            required_permission, signed_bytes, ExceptionFacts, ManifestFile, ALGORITHM, FORMAT,
            MANIFEST_PATH,
        },
        ids::{global_id, WorkspaceId},
        policy::flatten_settings,
        secrets::redact_text,
    },
    error::{AppError, AppResult},
    events::{self, Event},
    evidence::archive::PackWriter,
    store::{
        self,
        evidence::{BuiltPack, EvidencePackRow, NewEvidencePack},
        findings::{FindingRow, FindingSelection},
        operation_runs::OperationRunRow,
        policies::PolicyQuery,
        tenants::TenantRow,
        Conn, Window,
    },
};

/// Longest title.
pub const MAX_TITLE: usize = 200;
/// Most tenants in one pack.
pub const MAX_TENANTS: usize = 100;
/// Longest period a pack covers (its trends have one point per day).
pub const MAX_PERIOD_DAYS: i64 = 1096;
/// Rows read per statement while building.
const PAGE: i64 = 200;

/// What `createEvidencePack` asks for.
pub struct NewPackRequest {
    pub workspace: WorkspaceId,
    pub title: String,
    pub tenants: Vec<Uuid>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// The storage key of a pack.
fn storage_key(workspace: Uuid, pack: Uuid) -> String {
    format!("evidence-packs/{workspace}/{pack}.zip")
}

/// Validates the request, then creates the QUEUED pack and its build run in one
/// transaction (capability `evidence_pack.create`).
pub async fn create_evidence_pack(
    app: &AppContext,
    access: &Access,
    req: NewPackRequest,
) -> AppResult<(EvidencePackRow, OperationRunRow)> {
    access.user_email_or_system()?;
    access
        .require(req.workspace, Capability::EvidencePackCreate)
        .await?;
    let title = req.title.trim();
    if title.is_empty() {
        return Err(AppError::bad_input("title", "must not be empty"));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(AppError::bad_input(
            "title",
            format!("at most {MAX_TITLE} characters"),
        ));
    }
    // Control characters and bidirectional overrides can make a title read as another.
    if title
        .chars()
        .any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
    {
        return Err(AppError::bad_input(
            "title",
            "must not contain control characters or bidirectional overrides",
        ));
    }
    if crate::domain::exceptions::visible_len(title) == 0 {
        return Err(AppError::bad_input("title", "needs visible characters"));
    }
    let title = redact_text(title).into_owned();
    let now = Utc::now();
    if req.period_start > now {
        return Err(AppError::bad_input(
            "periodStart",
            "must not be in the future",
        ));
    }
    if req.period_end < req.period_start {
        return Err(AppError::bad_input(
            "periodEnd",
            "must not be before periodStart",
        ));
    }
    if req.period_end - req.period_start > chrono::Duration::days(MAX_PERIOD_DAYS) {
        return Err(AppError::bad_input(
            "periodStart",
            format!("a pack covers at most {MAX_PERIOD_DAYS} days (three years)"),
        ));
    }
    let tenants: Vec<Uuid> = req
        .tenants
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if tenants.is_empty() {
        return Err(AppError::bad_input("tenantIds", "name at least one tenant"));
    }
    if tenants.len() > MAX_TENANTS {
        return Err(AppError::bad_input(
            "tenantIds",
            format!("at most {MAX_TENANTS} tenants per pack"),
        ));
    }
    let workspace = req.workspace;
    let actor = access.actor();
    let email = access.user_email().ok().map(str::to_string);
    let max_attempts = app.jobs.max_attempts;
    let mut conn = app.db.conn().await?;
    conn.transaction::<_, AppError, _>(async |conn| {
        let found = store::tenants::list_tenants_by_ids(conn, &[workspace.0], &tenants).await?;
        if found.len() != tenants.len() {
            return Err(AppError::not_found("tenant"));
        }
        let created_by = match &email {
            Some(e) => Some(store::users::upsert_user(conn, e).await?.id),
            None => None,
        };
        let pack_id = Uuid::new_v4();
        let run = store::operation_runs::insert_run(
            conn,
            workspace,
            None,
            kinds::EVIDENCE_PACK_BUILD,
            json!({"packId": pack_id}),
            &actor,
            max_attempts,
        )
        .await?;
        let pack = store::evidence::insert_pack(
            conn,
            &NewEvidencePack {
                id: pack_id,
                workspace_id: workspace.0,
                title: title.clone(),
                tenant_ids: tenants.clone(),
                period_start: req.period_start,
                period_end: req.period_end,
                created_by,
                created_by_actor: actor.clone(),
                operation_run_id: Some(run.id),
            },
        )
        .await?;
        record(
            conn,
            Audit {
                workspace: Some(workspace),
                actor: actor.clone(),
                action: "evidence_pack.create",
                target_type: "EvidencePack",
                target_id: pack.id.to_string(),
                before: None,
                after: Some(json!({
                    "title": title, "tenantIds": tenants, "periodStart": req.period_start,
                    "periodEnd": req.period_end, "operationRunId": run.id,
                })),
                touches_activity: true,
            },
        )
        .await?;
        events::notify(conn, &Event::RunQueued { run_id: run.id }).await?;
        events::notify(
            conn,
            &Event::RunUpdated {
                workspace_id: workspace.0,
                run_id: run.id,
            },
        )
        .await?;
        Ok((pack, run))
    })
    .await
}

/// Looks a pack up for a caller holding `capability` in its workspace; NOT_FOUND hides
/// packs of workspaces the caller has no role in.
pub async fn authorize_pack(
    app: &AppContext,
    access: &Access,
    pack: Uuid,
    capability: Capability,
) -> AppResult<EvidencePackRow> {
    access.user_email_or_system()?;
    let mut conn = app.db.conn().await?;
    let found = store::evidence::find_pack_workspace(&mut conn, pack)
        .await?
        .map(WorkspaceId);
    let workspace = super::require_visible(access, found, capability, "evidence pack").await?;
    store::evidence::find_pack(&mut conn, workspace, pack)
        .await?
        .ok_or_else(|| AppError::not_found("evidence pack"))
}

/// Deletes a READY or FAILED pack and its stored file (capability `evidence_pack.delete`).
/// A pack still queued or building is a CONFLICT: cancel its run first.
pub async fn delete_evidence_pack(
    app: &AppContext,
    access: &Access,
    pack: Uuid,
) -> AppResult<EvidencePackRow> {
    let row = authorize_pack(app, access, pack, Capability::EvidencePackDelete).await?;
    let workspace = WorkspaceId(row.workspace_id);
    let actor = access.actor();
    let mut conn = app.db.conn().await?;
    let deleted = conn
        .transaction::<_, AppError, _>(async |conn| {
            let locked = store::evidence::lock_pack(conn, workspace, pack)
                .await?
                .ok_or_else(|| AppError::not_found("evidence pack"))?;
            if matches!(locked.status.as_str(), "QUEUED" | "BUILDING") {
                return Err(AppError::Conflict(format!(
                    "the pack is {}; cancel its operation run before deleting it",
                    locked.status
                )));
            }
            store::evidence::delete_pack(conn, workspace, pack).await?;
            record(
                conn,
                Audit {
                    workspace: Some(workspace),
                    actor: actor.clone(),
                    action: "evidence_pack.delete",
                    target_type: "EvidencePack",
                    target_id: pack.to_string(),
                    before: Some(json!({
                        "title": locked.title, "status": locked.status, "sha256": locked.sha256,
                        "sizeBytes": locked.size_bytes, "periodStart": locked.period_start,
                        "periodEnd": locked.period_end, "tenantIds": locked.tenant_ids,
                    })),
                    after: None,
                    touches_activity: true,
                },
            )
            .await?;
            Ok(locked)
        })
        .await?;
    // The key is the pack's own, recorded or not (a build that died after storing the
    // file and before recording it leaves one).
    let key = storage_key(deleted.workspace_id, deleted.id);
    if let Err(err) = app.evidence.storage.delete(&key).await {
        tracing::error!(error = %err, pack.id = %pack, "a deleted pack's file could not be removed");
    }
    remove_scratch(app, &[deleted.id]).await;
    Ok(deleted)
}

/// Removes the scratch files of these packs' builds (all attempts).
pub async fn remove_scratch(app: &AppContext, packs: &[Uuid]) {
    let Ok(probe) = app.evidence.storage.scratch_path("probe") else {
        return;
    };
    let Some(dir) = probe.parent() else { return };
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return;
    };
    let prefixes: Vec<String> = packs.iter().map(|p| format!("{p}-")).collect();
    while let Ok(Some(entry)) = entries.next_entry().await {
        let name = entry.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| name.starts_with(p.as_str())) {
            let _ = tokio::fs::remove_file(entry.path()).await;
        }
    }
}

/// A signed download URL (path and query) for `pack`, issued to `user`, valid for
/// [`crate::evidence::DOWNLOAD_URL_TTL_SECS`].
pub fn download_url(app: &AppContext, pack: Uuid, user: Uuid) -> String {
    let expires = Utc::now() + chrono::Duration::seconds(crate::evidence::DOWNLOAD_URL_TTL_SECS);
    format!(
        "/evidence-packs/{}/download?{}",
        global_id("EvidencePack", pack),
        app.evidence.urls.sign(pack, user, expires)
    )
}

/// The file name a download is offered under.
pub fn download_name(pack: &EvidencePackRow) -> String {
    format!(
        "evidence-pack-{}-{}.zip",
        path_segment(&pack.title.to_lowercase()),
        &pack.id.simple().to_string()[..8]
    )
}

// ---------------------------------------------------------------------------------------
// The writer thread

enum Cmd {
    Begin(String),
    Data(Vec<u8>),
    End,
    Spool(Vec<u8>),
    EmitSpool(String),
    Files(oneshot::Sender<Vec<ManifestFile>>),
    Finish(Vec<u8>),
}

/// Size and SHA-256 of the finished archive.
type Finished = (u64, String);

fn write_pack(
    path: PathBuf,
    modified: DateTime<Utc>,
    mut rx: mpsc::Receiver<Cmd>,
) -> std::io::Result<Finished> {
    let spool_path = path.with_extension("spool");
    let result = (|| {
        let private = || {
            let mut o = std::fs::File::options();
            o.read(true).write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
            o
        };
        let file = private().open(&path)?;
        let mut w = PackWriter::new(std::io::BufWriter::new(file), modified);
        let mut spool = private().open(&spool_path)?;
        while let Some(cmd) = rx.blocking_recv() {
            match cmd {
                Cmd::Begin(p) => w.begin(&p)?,
                Cmd::Data(bytes) => w.write_all(&bytes)?,
                Cmd::End => w.end()?,
                Cmd::Spool(bytes) => spool.write_all(&bytes)?,
                Cmd::EmitSpool(p) => {
                    spool.flush()?;
                    spool.rewind()?;
                    w.begin(&p)?;
                    std::io::copy(&mut (&spool), &mut w)?;
                    w.end()?;
                    spool.set_len(0)?;
                    spool.rewind()?;
                }
                Cmd::Files(reply) => {
                    let _ = reply.send(w.files()?.to_vec());
                }
                Cmd::Finish(manifest) => {
                    let file = w
                        .finish(&manifest)?
                        .into_inner()
                        .map_err(|e| e.into_error())?;
                    file.sync_all()?;
                    drop(file);
                    let mut hasher = sha2::Sha256::new();
                    let mut reader = std::fs::File::open(&path)?;
                    let mut buf = vec![0u8; 64 * 1024];
                    let mut size = 0u64;
                    loop {
                        let n = reader.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        hasher.update(&buf[..n]);
                        size += n as u64;
                    }
                    return Ok((size, hex::encode(hasher.finalize())));
                }
            }
        }
        Err(std::io::Error::other(
            "the build stopped before the pack was finished",
        ))
    })();
    let _ = std::fs::remove_file(&spool_path);
    if result.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    result
}

/// The async side of the writer thread: buffers writes and sends them in chunks.
struct Sink {
    tx: Option<mpsc::Sender<Cmd>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<Finished>>>,
    buf: Vec<u8>,
    spool: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl Sink {
    fn spawn(path: PathBuf, modified: DateTime<Utc>) -> Self {
        let (tx, rx) = mpsc::channel(8);
        let handle = tokio::task::spawn_blocking(move || write_pack(path, modified, rx));
        Self {
            tx: Some(tx),
            handle: Some(handle),
            buf: Vec::with_capacity(CHUNK),
            spool: Vec::new(),
        }
    }

    /// The writer's own error when it stopped, else a generic one.
    async fn writer_error(&mut self) -> AppError {
        self.tx = None;
        match self.handle.take() {
            Some(h) => match h.await {
                Ok(Err(e)) => AppError::internal(format!("writing the pack failed: {e}")),
                Ok(Ok(_)) => AppError::internal("the pack writer finished early"),
                Err(e) => AppError::internal(e),
            },
            None => AppError::internal("the pack writer is gone"),
        }
    }

    async fn send(&mut self, cmd: Cmd) -> AppResult<()> {
        let sent = match &self.tx {
            Some(tx) => tx.send(cmd).await.is_ok(),
            None => false,
        };
        if sent {
            Ok(())
        } else {
            Err(self.writer_error().await)
        }
    }

    async fn flush(&mut self) -> AppResult<()> {
        if !self.buf.is_empty() {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.send(Cmd::Data(chunk)).await?;
        }
        Ok(())
    }

    async fn begin(&mut self, path: &str) -> AppResult<()> {
        self.flush().await?;
        self.send(Cmd::Begin(path.to_string())).await
    }

    async fn write(&mut self, bytes: &[u8]) -> AppResult<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn write_json<T: Serialize + ?Sized>(&mut self, value: &T) -> AppResult<()> {
        serde_json::to_writer(&mut self.buf, value).map_err(AppError::internal)?;
        if self.buf.len() >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn end(&mut self) -> AppResult<()> {
        self.flush().await?;
        self.send(Cmd::End).await
    }

    /// One whole JSON file, pretty-printed.
    async fn add_json<T: Serialize + ?Sized>(&mut self, path: &str, value: &T) -> AppResult<()> {
        self.begin(path).await?;
        serde_json::to_writer_pretty(&mut self.buf, value).map_err(AppError::internal)?;
        self.buf.push(b'\n');
        self.end().await
    }

    async fn add(&mut self, path: &str, bytes: &[u8]) -> AppResult<()> {
        self.begin(path).await?;
        self.write(bytes).await?;
        self.end().await
    }

    async fn spool_line(&mut self, line: &str) -> AppResult<()> {
        self.spool.extend_from_slice(line.as_bytes());
        if self.spool.len() >= CHUNK {
            let chunk = std::mem::take(&mut self.spool);
            self.send(Cmd::Spool(chunk)).await?;
        }
        Ok(())
    }

    /// Writes everything spooled so far as the file `path`.
    async fn emit_spool(&mut self, path: &str) -> AppResult<()> {
        self.flush().await?;
        if !self.spool.is_empty() {
            let chunk = std::mem::take(&mut self.spool);
            self.send(Cmd::Spool(chunk)).await?;
        }
        self.send(Cmd::EmitSpool(path.to_string())).await
    }

    async fn files(&mut self) -> AppResult<Vec<ManifestFile>> {
        self.flush().await?;
        let (reply, answer) = oneshot::channel();
        self.send(Cmd::Files(reply)).await?;
        match answer.await {
            Ok(files) => Ok(files),
            Err(_) => Err(self.writer_error().await),
        }
    }

    async fn finish(mut self, manifest: Vec<u8>) -> AppResult<Finished> {
        self.flush().await?;
        self.send(Cmd::Finish(manifest)).await?;
        self.tx = None;
        match self.handle.take() {
            Some(h) => h
                .await
                .map_err(AppError::internal)?
                .map_err(|e| AppError::internal(format!("writing the pack failed: {e}"))),
            None => Err(AppError::internal("the pack writer is gone")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The build

/// How a build ended.
pub struct BuildOutcome {
    pub cancelled: bool,
    pub summary: String,
}

/// What the sections found, for `index.html`.
#[derive(Default)]
struct Summary {
    tenants: Vec<TenantSummary>,
    findings_by_severity: BTreeMap<String, i64>,
    findings_by_status: BTreeMap<String, i64>,
    open_findings: usize,
    resolved_in_period: usize,
    exceptions: BTreeMap<&'static str, usize>,
    baselines: usize,
    audit_events: usize,
    audit_start: (i64, String),
    audit_end: (i64, String),
    workspace_score: Option<i32>,
}

struct TenantSummary {
    id: Uuid,
    name: String,
    policies: usize,
    ghosts: usize,
    score: Option<i32>,
    connection: String,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn tenant_folder(t: &TenantRow) -> String {
    format!("review-pack/{}_{}", path_segment(&t.display_name), t.id)
}

/// Runs the build of the pack behind `run` (kind EVIDENCE_PACK_BUILD).
///
/// `worker` is the worker holding the run's lease (`None`: the caller runs it inline). A
/// worker that lost the lease stores and records nothing: the worker now holding it does.
pub async fn build_evidence_pack<P: Progress>(
    app: &Arc<AppContext>,
    run: &OperationRunRow,
    worker: Option<&str>,
    progress: &mut P,
) -> AppResult<BuildOutcome> {
    let workspace = WorkspaceId(run.workspace_id);
    let pack = {
        let mut conn = app.db.conn().await?;
        store::evidence::find_pack_by_run(&mut conn, workspace, run.id)
            .await?
            .ok_or_else(|| AppError::not_found("evidence pack"))?
    };
    if pack.status == "READY" {
        return Ok(BuildOutcome {
            cancelled: false,
            summary: "the pack was built already".into(),
        });
    }
    {
        let mut conn = app.db.conn().await?;
        if !store::evidence::mark_building(&mut conn, workspace, pack.id).await? {
            return Err(AppError::Conflict(format!(
                "the pack is {}, not buildable",
                pack.status
            )));
        }
    }
    let result = build_pack_file(app, run, &pack, worker, progress).await;
    let (reason, outcome) = match result {
        Ok(Some(outcome)) => return Ok(outcome),
        Ok(None) => (
            "the build was cancelled".to_string(),
            Ok(BuildOutcome {
                cancelled: true,
                summary: "cancelled".into(),
            }),
        ),
        // Another worker owns the run now; it finishes the pack.
        Err(AppError::Conflict(m)) if m == "lease lost" => return Err(AppError::Conflict(m)),
        Err(err) => (
            match &err {
                AppError::Internal(_) | AppError::DatabaseUnavailable(_) => {
                    "internal error; see the server log".to_string()
                }
                other => other.to_string(),
            },
            Err(err),
        ),
    };
    let mut conn = app.db.conn().await?;
    let run_id = run.id;
    conn.transaction::<_, AppError, _>(async |conn| {
        if let Some(w) = worker {
            if !store::operation_runs::lock_own_lease(conn, run_id, w).await? {
                return Ok(());
            }
        }
        store::evidence::mark_failed(conn, workspace, pack.id, &reason).await?;
        Ok(())
    })
    .await?;
    outcome
}

/// Builds, stores and records the pack; `None` when cancelled.
async fn build_pack_file<P: Progress>(
    app: &Arc<AppContext>,
    run: &OperationRunRow,
    pack: &EvidencePackRow,
    worker: Option<&str>,
    progress: &mut P,
) -> AppResult<Option<BuildOutcome>> {
    let workspace = WorkspaceId(pack.workspace_id);
    let built_at = Utc::now();
    let signer = app.evidence.signer(&app.db).await?;
    let scratch = app
        .evidence
        .storage
        .scratch_path(&format!("{}-{}.zip.partial", pack.id, run.attempt))?;
    if let Some(dir) = scratch.parent() {
        crate::evidence::storage::create_private_dir(dir)
            .await
            .map_err(|e| {
                AppError::internal(format!("cannot create the evidence scratch folder: {e}"))
            })?;
    }
    // Earlier attempts' scratch files (their workers died) are of no use now.
    for attempt in 1..run.attempt {
        if let Ok(old) = app
            .evidence
            .storage
            .scratch_path(&format!("{}-{attempt}.zip.partial", pack.id))
        {
            let _ = tokio::fs::remove_file(&old).await;
            let _ = tokio::fs::remove_file(old.with_extension("spool")).await;
        }
    }
    let mut sink = Sink::spawn(scratch.clone(), built_at);
    let mut conn = app.db.conn().await?;
    let written = conn
        .build_transaction()
        .repeatable_read()
        .read_only()
        .run(async |conn| write_sections(app, conn, pack, &mut sink, progress, built_at).await)
        .await;
    drop(conn);
    let manifest = match written {
        Ok(Some(manifest)) => manifest,
        Ok(None) => {
            drop(sink);
            let _ = tokio::fs::remove_file(&scratch).await;
            return Ok(None);
        }
        Err(e) => {
            drop(sink);
            let _ = tokio::fs::remove_file(&scratch).await;
            return Err(e);
        }
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).map_err(AppError::internal)?;
    let (size, sha256) = sink.finish(manifest_bytes).await?;
    let key = storage_key(pack.workspace_id, pack.id);
    let actor = run.initiated_by.clone();
    let run_id = run.id;
    let mut conn = app.db.conn().await?;
    // Stored and recorded under the run's row lock, and only while this worker holds the
    // lease: a worker that lost it cannot replace the file of the one that took over.
    let recorded = conn
        .transaction::<_, AppError, _>(async |conn| {
            if let Some(w) = worker {
                if !store::operation_runs::lock_own_lease(conn, run_id, w).await? {
                    return Err(AppError::Conflict("lease lost".into()));
                }
            }
            app.evidence.storage.put(&key, &scratch).await?;
            let ready = store::evidence::mark_ready(
                conn,
                workspace,
                pack.id,
                BuiltPack {
                    storage_key: &key,
                    size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
                    sha256: &sha256,
                    manifest: &manifest,
                    signing_key_id: signer.key_id(),
                    built_at,
                },
            )
            .await?;
            if !ready {
                return Ok(false);
            }
            record(
                conn,
                Audit {
                    workspace: Some(workspace),
                    actor: actor.clone(),
                    action: "evidence_pack.build",
                    target_type: "EvidencePack",
                    target_id: pack.id.to_string(),
                    before: None,
                    after: Some(json!({
                        "status": "READY", "sha256": sha256, "sizeBytes": size,
                        "signingKeyId": signer.key_id(),
                    })),
                    touches_activity: true,
                },
            )
            .await?;
            Ok(true)
        })
        .await;
    match recorded {
        Ok(true) => {}
        Ok(false) => {
            // Deleted (or failed by a cancel) while building: keep no orphan file.
            let _ = app.evidence.storage.delete(&key).await;
            return Err(AppError::Conflict(
                "the pack was deleted or cancelled while it was built".into(),
            ));
        }
        Err(AppError::Conflict(m)) if m == "lease lost" => {
            let _ = tokio::fs::remove_file(&scratch).await;
            return Err(AppError::Conflict(m));
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&scratch).await;
            let _ = app.evidence.storage.delete(&key).await;
            return Err(e);
        }
    }
    let files = manifest["files"].as_array().map_or(0, Vec::len) + 1;
    Ok(Some(BuildOutcome {
        cancelled: false,
        summary: format!("pack READY: {files} files, {size} bytes, sha256 {sha256}"),
    }))
}

/// Reports progress; `false` when the run was cancelled.
async fn step<P: Progress>(
    progress: &mut P,
    done: &mut usize,
    total: usize,
    message: &str,
) -> AppResult<bool> {
    *done += 1;
    Ok(matches!(
        progress.report((*done).min(total), total, message).await?,
        Control::Continue
    ))
}

/// Writes every file but the manifest and returns the signed manifest (`None`: cancelled).
async fn write_sections<P: Progress>(
    app: &AppContext,
    conn: &mut Conn,
    pack: &EvidencePackRow,
    sink: &mut Sink,
    progress: &mut P,
    built_at: DateTime<Utc>,
) -> AppResult<Option<Value>> {
    let workspace = WorkspaceId(pack.workspace_id);
    let signer = app.evidence.signer(&app.db).await?;
    let ws = store::workspaces::find_workspace(conn, workspace)
        .await?
        .ok_or_else(|| AppError::not_found("workspace"))?;
    let mut tenants =
        store::tenants::list_tenants_by_ids(conn, &[workspace.0], &pack.tenant_ids).await?;
    tenants.sort_by(|a, b| (&a.display_name, a.id).cmp(&(&b.display_name, b.id)));
    let counts = store::policies::count_policies_by_tenants(
        conn,
        &[workspace.0],
        &pack.tenant_ids,
        &PolicyQuery::default(),
    )
    .await?;
    let policy_total: usize = counts.iter().map(|(_, n)| *n as usize).sum();
    // One step per policy page, per tenant's closing files, and per section.
    let total = policy_total.div_ceil(PAGE as usize) + tenants.len() + 6;
    let mut done = 0usize;
    let mut summary = Summary::default();
    let scores: HashMap<Uuid, Option<i32>> =
        compliance_by_tenant(conn, &[workspace.0], Some(&pack.tenant_ids))
            .await?
            .into_iter()
            .map(|(t, c)| (t, c.score()))
            .collect();

    // review-pack/: per tenant, the inventory.
    for tenant in &tenants {
        let folder = tenant_folder(tenant);
        let mut entries = Vec::new();
        let mut ghosts = 0usize;
        sink.spool_line(&csv_line(&[
            "policyId",
            "policyName",
            "contractType",
            "lifecycleState",
            "path",
            "definitionId",
            "valueType",
            "value",
        ]))
        .await?;
        let mut offset = 0i64;
        loop {
            let q = PolicyQuery {
                tenant: Some(tenant.id),
                ..Default::default()
            };
            let rows = store::policies::list_policies(
                conn,
                workspace,
                &q,
                Window {
                    offset,
                    limit: PAGE,
                },
            )
            .await?;
            if rows.is_empty() {
                break;
            }
            offset += rows.len() as i64;
            let keys: Vec<(Uuid, i32)> = rows.iter().map(|p| (p.id, p.version_count)).collect();
            let texts: HashMap<Uuid, String> =
                store::policies::list_version_texts(conn, &[workspace.0], &keys)
                    .await?
                    .into_iter()
                    .collect();
            for p in &rows {
                let ghost = p.lifecycle_state == "DELETED";
                ghosts += usize::from(ghost);
                let payload: Value = match texts.get(&p.id) {
                    Some(text) => store::policies::parse_stored_payload(text)?,
                    None => Value::Null,
                };
                let file = format!(
                    "policies/{}/{}_{}.json",
                    path_segment(p.contract_type.rsplit('/').next().unwrap_or("other")),
                    path_segment(&p.display_name),
                    p.id
                );
                let policy_gid = global_id("Policy", p.id);
                sink.add_json(
                    &format!("{folder}/{file}"),
                    &json!({
                        "id": policy_gid, "displayName": p.display_name,
                        "contractType": p.contract_type, "lifecycleState": p.lifecycle_state,
                        "ghost": ghost, "payloadHash": p.payload_hash, "payload": payload,
                    }),
                )
                .await?;
                if let Some(contract) = find_contract(&p.contract_type) {
                    for s in flatten_settings(contract, &payload) {
                        sink.spool_line(&csv_line(&[
                            policy_gid.as_str(),
                            &p.display_name,
                            &p.contract_type,
                            &p.lifecycle_state,
                            &s.path,
                            s.definition_id.as_deref().unwrap_or(""),
                            &s.value_type,
                            &json_cell(Some(&s.value)),
                        ]))
                        .await?;
                    }
                }
                entries.push(json!({
                    "id": policy_gid, "externalId": p.external_id, "displayName": p.display_name,
                    "contractType": p.contract_type, "platform": p.platform,
                    "lifecycleState": p.lifecycle_state, "ghost": ghost,
                    "deletedAt": p.deleted_at.map(ts), "restoredAt": p.restored_at.map(ts),
                    "firstSeenAt": ts(p.first_seen_at), "lastSeenAt": ts(p.last_seen_at),
                    "versionCount": p.version_count, "payloadHash": p.payload_hash,
                    "settingCount": p.setting_count, "redactionCount": p.redaction_count,
                    "file": file,
                }));
            }
            if !step(
                progress,
                &mut done,
                total,
                &format!("{}: {} policies", tenant.display_name, entries.len()),
            )
            .await?
            {
                return Ok(None);
            }
        }
        sink.emit_spool(&format!("{folder}/settings.csv")).await?;
        let policy_count = entries.len();
        sink.add_json(
            &format!("{folder}/inventory.json"),
            &json!({
                "tenant": tenant_json(tenant),
                "generatedAt": ts(built_at),
                "policyCount": policy_count,
                "ghostPolicyCount": ghosts,
                "ghostPolicies": "policies with lifecycleState DELETED (ghost: true) were deleted in the tenant; their last seen configuration is kept",
                "policies": entries,
            }),
        )
        .await?;
        summary.tenants.push(TenantSummary {
            id: tenant.id,
            name: tenant.display_name.clone(),
            policies: policy_count,
            ghosts,
            score: scores.get(&tenant.id).copied().flatten(),
            connection: tenant
                .connection_kind
                .clone()
                .unwrap_or_else(|| "none".into()),
        });
        if !step(
            progress,
            &mut done,
            total,
            &format!("{}: inventory written", tenant.display_name),
        )
        .await?
        {
            return Ok(None);
        }
    }

    // permission-posture.json
    let posture: Vec<Value> = tenants.iter().map(posture_json).collect();
    sink.add_json(
        "permission-posture.json",
        &json!({"generatedAt": ts(built_at), "tenants": posture}),
    )
    .await?;
    if !step(progress, &mut done, total, "permission posture written").await? {
        return Ok(None);
    }

    // findings-summary.json and findings.csv
    write_findings(conn, pack, &tenants, sink, &mut summary).await?;
    if !step(progress, &mut done, total, "findings written").await? {
        return Ok(None);
    }

    // exceptions-register.json
    write_exceptions(conn, pack, &tenants, sink, &mut summary).await?;
    if !step(progress, &mut done, total, "exceptions register written").await? {
        return Ok(None);
    }

    // baseline-governance.json
    write_governance(conn, pack, &tenants, sink, &mut summary).await?;
    if !step(progress, &mut done, total, "baseline governance written").await? {
        return Ok(None);
    }

    // audit-excerpt.json
    write_audit(conn, pack, sink, &mut summary).await?;
    if !step(progress, &mut done, total, "audit excerpt written").await? {
        return Ok(None);
    }

    // index.html, then the manifest over everything.
    let created_by = match pack.created_by {
        Some(id) => store::users::list_users_by_ids(conn, &[id])
            .await?
            .into_iter()
            .next()
            .map(|u| u.email),
        None => None,
    }
    .unwrap_or_else(|| pack.created_by_actor.clone());
    let meta = json!({
        "id": global_id("EvidencePack", pack.id),
        "title": pack.title,
        "workspace": {"id": global_id("Workspace", ws.id), "name": ws.name, "slug": ws.slug},
        "tenants": tenants.iter().map(|t| json!({
            "id": global_id("Tenant", t.id), "displayName": t.display_name,
            "entraTenantId": t.entra_tenant_id,
        })).collect::<Vec<_>>(),
        "periodStart": ts(pack.period_start),
        "periodEnd": ts(pack.period_end),
        "createdBy": created_by,
        "createdAt": ts(pack.created_at),
        "builtAt": ts(built_at),
        "software": {"name": "TenantAtlas", "version": env!("CARGO_PKG_VERSION")},
    });
    let files = sink.files().await?;
    let html = index_html(&meta, &summary, &files, signer);
    sink.add("index.html", html.as_bytes()).await?;
    let files = sink.files().await?;
    let mut manifest = json!({"format": FORMAT, "pack": meta, "files": files});
    let signature = signer.sign_base64(&signed_bytes(&manifest));
    manifest["signature"] = json!({
        "algorithm": ALGORITHM,
        "keyId": signer.key_id(),
        "publicKey": signer.public_key_base64(),
        "value": signature,
    });
    if !step(progress, &mut done, total, "index and manifest written").await? {
        return Ok(None);
    }
    Ok(Some(manifest))
}

fn tenant_json(t: &TenantRow) -> Value {
    json!({
        "id": global_id("Tenant", t.id), "displayName": t.display_name,
        "entraTenantId": t.entra_tenant_id, "lastSyncedAt": t.last_synced_at.map(ts),
        "connection": t.connection_kind.as_ref().map(|k| json!({"kind": k, "path": t.export_path})),
    })
}

/// Required versus granted Graph permissions of a tenant's connection.
fn posture_json(t: &TenantRow) -> Value {
    let collections = CONTRACTS.iter().map(|c| c.collection);
    // Export-directory and unconfigured connections use no Graph token; a Graph
    // connection's granted roles come from its token (none is recorded yet).
    let granted: Vec<String> = Vec::new();
    let p = permission_posture(collections, &granted);
    let by_permission: BTreeMap<&str, Vec<&str>> =
        CONTRACTS.iter().fold(BTreeMap::new(), |mut m, c| {
            m.entry(required_permission(c.collection))
                .or_insert_with(Vec::new)
                .push(c.collection);
            m
        });
    let base = json!({
        "tenant": {"id": global_id("Tenant", t.id), "displayName": t.display_name, "entraTenantId": t.entra_tenant_id},
        "requiredPermissions": p.required,
        "contractsByPermission": by_permission,
    });
    let mut out = base;
    match t.connection_kind.as_deref() {
        Some("MICROSOFT_GRAPH") => {
            out["connection"] = json!({"kind": "MICROSOFT_GRAPH"});
            out["applicable"] = json!(true);
            out["grantedPermissions"] = json!(p.granted);
            out["missingPermissions"] = json!(p.missing);
            out["excessPermissions"] = json!(p.excess);
            out["note"] = json!("granted permissions are the roles of the connection's last token; no token has been recorded for this connection");
        }
        Some(kind) => {
            out["connection"] = json!({"kind": kind, "path": t.export_path});
            out["applicable"] = json!(false);
            out["status"] = json!("not applicable, export-directory connection");
            out["reason"] = json!("policies are read from exported files, so TenantAtlas holds no Graph token and no permission is granted to it; requiredPermissions is what a Graph connection would need");
        }
        None => {
            out["connection"] = Value::Null;
            out["applicable"] = json!(false);
            out["status"] = json!("not applicable, no provider connection");
            out["reason"] = json!("the tenant has no provider connection configured");
        }
    }
    out
}

fn finding_json(f: &FindingRow, tenants: &HashMap<Uuid, &TenantRow>) -> Value {
    json!({
        "id": global_id("Finding", f.id),
        "tenant": {"id": global_id("Tenant", f.tenant_id),
                   "displayName": tenants.get(&f.tenant_id).map(|t| t.display_name.clone())},
        "baselineId": global_id("Baseline", f.baseline_id),
        "policyId": f.policy_id.map(|p| global_id("Policy", p)),
        "kind": f.kind, "severity": f.severity, "status": f.status, "title": f.title,
        "settingPath": f.setting_path, "expectedValue": f.expected_value, "actualValue": f.actual_value,
        "firstSeenAt": ts(f.first_seen_at), "lastSeenAt": ts(f.last_seen_at),
        "resolvedAt": f.resolved_at.map(ts), "resolution": f.resolution, "reopenCount": f.reopen_count,
    })
}

async fn write_findings(
    conn: &mut Conn,
    pack: &EvidencePackRow,
    tenants: &[TenantRow],
    sink: &mut Sink,
    summary: &mut Summary,
) -> AppResult<()> {
    let workspace = WorkspaceId(pack.workspace_id);
    let by_id: HashMap<Uuid, &TenantRow> = tenants.iter().map(|t| (t.id, t)).collect();
    let counts =
        store::findings::count_by_severity_status(conn, workspace, &pack.tenant_ids).await?;
    for (sev, status, n) in &counts {
        *summary.findings_by_severity.entry(sev.clone()).or_default() += n;
        *summary
            .findings_by_status
            .entry(status.clone())
            .or_default() += n;
    }
    sink.begin("findings-summary.json").await?;
    sink.write(b"{\"period\":").await?;
    sink.write_json(&json!({"start": ts(pack.period_start), "end": ts(pack.period_end)}))
        .await?;
    sink.write(b",\"counts\":").await?;
    sink.write_json(&json!({
        "bySeverity": summary.findings_by_severity,
        "byStatus": summary.findings_by_status,
        "bySeverityAndStatus": counts.iter().map(|(s, st, n)| json!({"severity": s, "status": st, "count": n})).collect::<Vec<_>>(),
    }))
    .await?;
    sink.spool_line(&csv_line(&[
        "section",
        "findingId",
        "tenant",
        "severity",
        "status",
        "kind",
        "title",
        "settingPath",
        "expectedValue",
        "actualValue",
        "firstSeenAt",
        "lastSeenAt",
        "resolvedAt",
    ]))
    .await?;
    const OPEN: &[&str] = &["OPEN", "TRIAGED", "IN_PROGRESS"];
    const ACCEPTED: &[&str] = &["RISK_ACCEPTED"];
    let sections = [
        ("openFindings", "open", FindingSelection::Statuses(OPEN)),
        (
            "riskAcceptedFindings",
            "risk_accepted",
            FindingSelection::Statuses(ACCEPTED),
        ),
        (
            "resolvedInPeriod",
            "resolved_in_period",
            FindingSelection::ResolvedBetween(pack.period_start, pack.period_end),
        ),
    ];
    for (key, csv_section, selection) in sections {
        sink.write(format!(",\"{key}\":[").as_bytes()).await?;
        let mut offset = 0i64;
        let mut n = 0usize;
        loop {
            let rows = store::findings::list_tenant_findings(
                conn,
                workspace,
                &pack.tenant_ids,
                selection,
                Window {
                    offset,
                    limit: PAGE,
                },
            )
            .await?;
            if rows.is_empty() {
                break;
            }
            offset += rows.len() as i64;
            for f in &rows {
                if n > 0 {
                    sink.write(b",").await?;
                }
                n += 1;
                sink.write_json(&finding_json(f, &by_id)).await?;
                let tenant = by_id
                    .get(&f.tenant_id)
                    .map_or("", |t| t.display_name.as_str());
                sink.spool_line(&csv_line(&[
                    csv_section,
                    &global_id("Finding", f.id),
                    tenant,
                    &f.severity,
                    &f.status,
                    &f.kind,
                    &f.title,
                    f.setting_path.as_deref().unwrap_or(""),
                    &json_cell(f.expected_value.as_ref()),
                    &json_cell(f.actual_value.as_ref()),
                    &ts(f.first_seen_at),
                    &ts(f.last_seen_at),
                    &f.resolved_at.map(ts).unwrap_or_default(),
                ]))
                .await?;
            }
        }
        sink.write(b"]").await?;
        match key {
            "openFindings" => summary.open_findings = n,
            "resolvedInPeriod" => summary.resolved_in_period = n,
            _ => {}
        }
    }
    sink.write(b"}\n").await?;
    sink.end().await?;
    sink.emit_spool("findings.csv").await
}

async fn write_exceptions(
    conn: &mut Conn,
    pack: &EvidencePackRow,
    tenants: &[TenantRow],
    sink: &mut Sink,
    summary: &mut Summary,
) -> AppResult<()> {
    let workspace = WorkspaceId(pack.workspace_id);
    let by_id: HashMap<Uuid, &TenantRow> = tenants.iter().map(|t| (t.id, t)).collect();
    let rows = store::exceptions::list_tenant_exceptions(
        conn,
        workspace,
        &pack.tenant_ids,
        pack.period_end,
    )
    .await?;
    let ids: Vec<Uuid> = rows.iter().map(|e| e.id).collect();
    let mut history: HashMap<Uuid, Vec<Value>> = HashMap::new();
    let mut finding_ids = Vec::new();
    let mut user_ids = BTreeSet::new();
    for chunk in ids.chunks(1000) {
        for h in store::exceptions::list_history_by_exceptions(conn, &[workspace.0], chunk).await? {
            history.entry(h.exception_id).or_default().push(json!({
                "action": h.action, "actor": h.actor, "at": ts(h.at),
                "comment": h.comment.as_deref().map(|c| redact_text(c).into_owned()),
            }));
        }
    }
    for e in &rows {
        finding_ids.push(e.finding_id);
        user_ids.insert(e.requested_by);
        user_ids.extend(e.decided_by);
    }
    let mut titles = HashMap::new();
    for chunk in finding_ids.chunks(1000) {
        for f in store::findings::list_findings_by_ids(conn, &[workspace.0], chunk).await? {
            titles.insert(f.id, f.title);
        }
    }
    let users: HashMap<Uuid, String> =
        store::users::list_users_by_ids(conn, &user_ids.into_iter().collect::<Vec<_>>())
            .await?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect();
    let user = |id: Uuid| json!({"id": global_id("User", id), "email": users.get(&id)});
    let mut listed = Vec::new();
    let mut counts: BTreeMap<&'static str, usize> =
        ["active", "expired", "rejected", "revoked", "pending"]
            .into_iter()
            .map(|k| (k, 0))
            .collect();
    for e in &rows {
        let ended_at = e
            .superseded_at
            .or((e.status == "REVOKED").then_some(e.updated_at));
        let sections = register_sections(
            &ExceptionFacts {
                status: e.status.clone(),
                requested_at: e.requested_at,
                decided_at: e.decided_at,
                expires_at: e.expires_at,
                ended_at,
            },
            pack.period_start,
            pack.period_end,
        );
        if sections.is_empty() {
            continue;
        }
        for s in &sections {
            *counts.entry(s.key()).or_default() += 1;
        }
        listed.push(json!({
            "id": global_id("FindingException", e.id),
            "sections": sections.iter().map(|s| s.key()).collect::<Vec<_>>(),
            "finding": {"id": global_id("Finding", e.finding_id), "title": titles.get(&e.finding_id)},
            "tenant": {"id": global_id("Tenant", e.tenant_id),
                       "displayName": by_id.get(&e.tenant_id).map(|t| t.display_name.clone())},
            "scope": e.scope, "settingPath": e.setting_path, "acceptedValue": e.accepted_value,
            "status": e.status,
            "justification": redact_text(&e.justification),
            "compensatingControls": redact_text(&e.compensating_controls),
            "ticketReference": e.ticket_reference,
            "requestedBy": user(e.requested_by), "requestedAt": ts(e.requested_at),
            "decidedBy": e.decided_by.map(user), "decidedAt": e.decided_at.map(ts),
            "decisionComment": e.decision_comment.as_deref().map(|c| redact_text(c).into_owned()),
            "expiresAt": ts(e.expires_at),
            "renewalOf": e.renewal_of.map(|r| global_id("FindingException", r)),
            "supersededAt": e.superseded_at.map(ts),
            "history": history.remove(&e.id).unwrap_or_default(),
        }));
    }
    summary.exceptions = counts.clone();
    sink.add_json(
        "exceptions-register.json",
        &json!({
            "period": {"start": ts(pack.period_start), "end": ts(pack.period_end)},
            "sections": {
                "active": "approved and in force at some time in the period",
                "expired": "expired in the period",
                "rejected": "rejected in the period",
                "revoked": "revoked in the period",
                "pending": "requested by the period's end and not decided when the pack was built",
            },
            "counts": counts,
            "exceptions": listed,
        }),
    )
    .await
}

async fn write_governance(
    conn: &mut Conn,
    pack: &EvidencePackRow,
    tenants: &[TenantRow],
    sink: &mut Sink,
    summary: &mut Summary,
) -> AppResult<()> {
    let workspace = WorkspaceId(pack.workspace_id);
    let by_id: HashMap<Uuid, &TenantRow> = tenants.iter().map(|t| (t.id, t)).collect();
    let baselines = store::baselines::list_baselines_by_workspaces(conn, &[workspace.0]).await?;
    let ids: Vec<Uuid> = baselines.iter().map(|b| b.id).collect();
    let versions = store::baselines::list_versions_by_baselines(conn, &[workspace.0], &ids).await?;
    let assignments = store::baselines::list_assignments(
        conn,
        &[workspace.0],
        Some(&ids),
        Some(&pack.tenant_ids),
    )
    .await?;
    let out: Vec<Value> = baselines
        .iter()
        .map(|b| {
            json!({
                "id": global_id("Baseline", b.id), "name": b.name, "description": b.description,
                "sourceTenantId": b.source_tenant_id.map(|t| global_id("Tenant", t)),
                "currentVersion": b.current_version, "createdBy": b.created_by,
                "createdAt": ts(b.created_at), "updatedAt": ts(b.updated_at),
                "versions": versions.iter().filter(|v| v.baseline_id == b.id).map(|v| json!({
                    "version": v.version, "itemCount": v.item_count,
                    "createdBy": v.created_by, "createdAt": ts(v.created_at),
                })).collect::<Vec<_>>(),
                "assignments": assignments.iter().filter(|a| a.baseline_id == b.id).map(|a| json!({
                    "tenant": {"id": global_id("Tenant", a.tenant_id),
                               "displayName": by_id.get(&a.tenant_id).map(|t| t.display_name.clone())},
                    "assignedBy": a.assigned_by, "assignedAt": ts(a.assigned_at),
                    "lastEvaluatedAt": a.last_evaluated_at.map(ts), "checkCount": a.check_count,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    summary.baselines = baselines.len();
    let from = pack.period_start.date_naive();
    let until = pack.period_end.date_naive();
    let snapshots =
        store::findings::list_snapshots(conn, &[workspace.0], &pack.tenant_ids, true, from).await?;
    let trend = |tenant: Option<Uuid>| -> Vec<Value> {
        let rows: Vec<_> = snapshots
            .iter()
            .filter(|s| s.tenant_id == tenant)
            .cloned()
            .collect();
        // From the period's start or the first snapshot, whichever is later: a period
        // far in the past costs nothing.
        let Some(first) = rows.iter().map(|r| r.day).min() else {
            return Vec::new();
        };
        trend_points(&rows, from.max(first))
            .into_iter()
            .filter(|(day, c, _)| *day <= until && c.is_some())
            .map(|(day, c, score)| {
                json!({
                    "day": day.to_string(), "score": score,
                    "openBySeverity": c.map(|c| json!({
                        "CRITICAL": c.open[0], "HIGH": c.open[1], "MEDIUM": c.open[2],
                        "LOW": c.open[3], "INFO": c.open[4],
                    })),
                })
            })
            .collect()
    };
    let current: HashMap<Uuid, _> =
        compliance_by_tenant(conn, &[workspace.0], Some(&pack.tenant_ids))
            .await?
            .into_iter()
            .collect();
    let ws_score = compliance_by_workspace(conn, &[workspace.0])
        .await?
        .get(&workspace.0)
        .and_then(|c| c.score());
    summary.workspace_score = ws_score;
    sink.begin("baseline-governance.json").await?;
    sink.write(b"{\"period\":").await?;
    sink.write_json(&json!({"start": ts(pack.period_start), "end": ts(pack.period_end)}))
        .await?;
    sink.write(b",\"baselines\":").await?;
    sink.write_json(&out).await?;
    sink.write(b",\"compliance\":{\"scoring\":").await?;
    sink.write_json("0-100, severity-weighted (CRITICAL 10, HIGH 5, MEDIUM 3, LOW 1, INFO 0); risk-accepted findings count neither as compliant nor as open drift; trends have one point per day from the period's start (or the first snapshot) to its end (or the build)")
        .await?;
    sink.write(b",\"workspace\":").await?;
    sink.write_json(&json!({"complianceScore": ws_score, "trend": trend(None)}))
        .await?;
    // Tenants one at a time: a trend is up to one point per day of the period.
    sink.write(b",\"tenants\":[").await?;
    for (i, t) in tenants.iter().enumerate() {
        if i > 0 {
            sink.write(b",").await?;
        }
        let c = current.get(&t.id);
        sink.write_json(&json!({
            "tenant": {"id": global_id("Tenant", t.id), "displayName": t.display_name},
            "complianceScore": c.and_then(|c| c.score()),
            "openBySeverity": c.map(|c| json!({
                "CRITICAL": c.open[0], "HIGH": c.open[1], "MEDIUM": c.open[2],
                "LOW": c.open[3], "INFO": c.open[4],
            })),
            "riskAcceptedCount": c.map(|c| c.accepted_count),
            "trend": trend(Some(t.id)),
        }))
        .await?;
    }
    sink.write(b"]}}\n").await?;
    sink.end().await
}

async fn write_audit(
    conn: &mut Conn,
    pack: &EvidencePackRow,
    sink: &mut Sink,
    summary: &mut Summary,
) -> AppResult<()> {
    let chain = store::audit::chain_of(Some(WorkspaceId(pack.workspace_id)));
    let start = store::audit::chain_position_before(conn, &chain, pack.period_start)
        .await?
        .unwrap_or((0, GENESIS_HASH.to_string()));
    let current = store::audit::chain_head(conn, &chain).await?;
    sink.begin("audit-excerpt.json").await?;
    sink.write(b"{\"chain\":").await?;
    sink.write_json(&chain).await?;
    sink.write(b",\"period\":").await?;
    sink.write_json(&json!({"start": ts(pack.period_start), "end": ts(pack.period_end)}))
        .await?;
    sink.write(b",\"verification\":").await?;
    sink.write_json("each event's hash is SHA-256 over its prevHash and its canonical form (see `tenantatlas audit verify`); the first event's prevHash is startHead.hash and the last event's hash is endHead.hash, so the excerpt is complete and unaltered when the chain recomputes from one head to the other")
        .await?;
    sink.write(b",\"events\":[").await?;
    let mut after = start.0;
    let mut end = start.clone();
    let mut n = 0usize;
    loop {
        let rows = store::audit::list_chain_between(
            conn,
            &chain,
            pack.period_start,
            pack.period_end,
            after,
            PAGE * 5,
        )
        .await?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        end = (last.seq, last.hash.clone());
        for e in &rows {
            if n > 0 {
                sink.write(b",").await?;
            }
            n += 1;
            sink.write_json(&json!({
                "id": global_id("AuditEvent", e.id), "seq": e.seq, "actor": e.actor,
                "action": e.action, "targetType": e.target_type, "targetId": e.target_id,
                "before": e.before, "after": e.after, "occurredAt": ts(e.occurred_at),
                "prevHash": e.prev_hash, "hash": e.hash,
            }))
            .await?;
        }
    }
    sink.write(b"],\"eventCount\":").await?;
    sink.write_json(&n).await?;
    sink.write(b",\"startHead\":").await?;
    sink.write_json(&json!({"seq": start.0, "hash": start.1}))
        .await?;
    sink.write(b",\"endHead\":").await?;
    sink.write_json(&json!({"seq": end.0, "hash": end.1}))
        .await?;
    sink.write(b",\"chainHeadAtBuild\":").await?;
    sink.write_json(
        &current
            .as_ref()
            .map(|(seq, hash)| json!({"seq": seq, "hash": hash})),
    )
    .await?;
    sink.write(b"}\n").await?;
    sink.end().await?;
    summary.audit_events = n;
    summary.audit_start = start;
    summary.audit_end = end;
    Ok(())
}

/// The human-readable summary: one self-contained page (inline style, no scripts, no
/// external assets).
fn index_html(
    meta: &Value,
    s: &Summary,
    files: &[ManifestFile],
    signer: &crate::evidence::keys::Signer,
) -> String {
    let e = |v: &Value| html_escape(v.as_str().unwrap_or(""));
    let score = |v: Option<i32>| v.map_or("not evaluated".to_string(), |s| format!("{s} / 100"));
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    h.push_str(&format!("<title>{}</title>\n", e(&meta["title"])));
    h.push_str("<style>body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1f24;max-width:72rem}table{border-collapse:collapse;margin:.5rem 0 1.5rem}th,td{border:1px solid #c9d1d9;padding:.3rem .6rem;text-align:left;vertical-align:top}th{background:#f3f5f7}code{font-size:.85em;word-break:break-all}.muted{color:#57606a}</style>\n</head><body>\n");
    h.push_str(&format!("<h1>{}</h1>\n", e(&meta["title"])));
    h.push_str(&format!(
        "<p>Evidence pack for workspace <strong>{}</strong>, period {} to {}.<br>Created by {} at {}; built at {} by {} {}.</p>\n",
        e(&meta["workspace"]["name"]),
        e(&meta["periodStart"]),
        e(&meta["periodEnd"]),
        e(&meta["createdBy"]),
        e(&meta["createdAt"]),
        e(&meta["builtAt"]),
        e(&meta["software"]["name"]),
        e(&meta["software"]["version"]),
    ));
    h.push_str("<h2>Tenants</h2>\n<table><tr><th>Tenant</th><th>Policies</th><th>Ghost (deleted) policies</th><th>Compliance score</th><th>Connection</th></tr>\n");
    for t in &s.tenants {
        h.push_str(&format!(
            "<tr><td>{}<br><span class=\"muted\">{}</span></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            html_escape(&t.name),
            html_escape(&global_id("Tenant", t.id)),
            t.policies,
            t.ghosts,
            score(t.score),
            html_escape(&t.connection)
        ));
    }
    h.push_str(&format!(
        "</table>\n<p>Workspace compliance score: {}.</p>\n",
        score(s.workspace_score)
    ));
    h.push_str(
        "<h2>Findings</h2>\n<table><tr><th>Severity</th><th>Findings (all statuses)</th></tr>\n",
    );
    for sev in ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"] {
        h.push_str(&format!(
            "<tr><td>{sev}</td><td>{}</td></tr>\n",
            s.findings_by_severity.get(sev).copied().unwrap_or(0)
        ));
    }
    h.push_str("</table>\n<table><tr><th>Status</th><th>Findings</th></tr>\n");
    for (status, n) in &s.findings_by_status {
        h.push_str(&format!(
            "<tr><td>{}</td><td>{n}</td></tr>\n",
            html_escape(status)
        ));
    }
    h.push_str(&format!(
        "</table>\n<p>Open findings: {} (with expected and actual values in <code>findings.csv</code>). Resolved in the period: {}.</p>\n",
        s.open_findings, s.resolved_in_period
    ));
    h.push_str("<h2>Risk acceptances (exceptions)</h2>\n<p>An exception in force during the period and then expired or revoked in it counts in both rows.</p>\n<table><tr><th>In the period</th><th>Exceptions</th></tr>\n");
    for (k, n) in &s.exceptions {
        h.push_str(&format!("<tr><td>{k}</td><td>{n}</td></tr>\n"));
    }
    h.push_str(&format!(
        "</table>\n<h2>Baselines and audit trail</h2>\n<p>Baselines: {} (see <code>baseline-governance.json</code>). Audit events in the period: {}, chained from head #{} <code>{}</code> to head #{} <code>{}</code> (see <code>audit-excerpt.json</code>).</p>\n",
        s.baselines,
        s.audit_events,
        s.audit_start.0,
        html_escape(&s.audit_start.1),
        s.audit_end.0,
        html_escape(&s.audit_end.1)
    ));
    h.push_str("<h2>Files</h2>\n<table><tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr>\n");
    for f in files {
        h.push_str(&format!(
            "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>\n",
            html_escape(&f.path),
            f.size,
            html_escape(&f.sha256)
        ));
    }
    h.push_str(&format!(
        "</table>\n<h2>Verifying this pack</h2>\n<p><code>{MANIFEST_PATH}</code> lists every file (this page included) with its size and SHA-256 and is signed with Ed25519 key <code>{}</code> (public key <code>{}</code>). Check it offline with <code>tenantatlas evidence verify PACK.zip --public-key {}</code>, using the public key as published by TenantAtlas (<code>Query.evidenceSigningKeys</code>), not only the copy in this pack.</p>\n</body></html>\n",
        html_escape(signer.key_id()),
        html_escape(&signer.public_key_base64()),
        html_escape(&signer.public_key_base64()),
    ));
    h
}
