//! Evidence packs and the public halves of their signing keys.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::{Conn, Window};
use crate::{
    db::schema::{evidence_packs, evidence_signing_keys},
    domain::ids::WorkspaceId,
    error::AppResult,
};

#[derive(Clone, Debug, Queryable, Selectable, PartialEq)]
#[diesel(table_name = evidence_signing_keys)]
pub struct SigningKeyRow {
    pub id: String,
    pub algorithm: String,
    pub public_key: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// Every signing key, newest first.
pub async fn list_signing_keys(conn: &mut Conn) -> AppResult<Vec<SigningKeyRow>> {
    Ok(evidence_signing_keys::table
        .order((
            evidence_signing_keys::created_at.desc(),
            evidence_signing_keys::id.asc(),
        ))
        .select(SigningKeyRow::as_select())
        .load(conn)
        .await?)
}

/// Registers a public key (a no-op when it is registered already).
pub async fn insert_signing_key(conn: &mut Conn, id: &str, public_key: &str) -> AppResult<()> {
    diesel::insert_into(evidence_signing_keys::table)
        .values((
            evidence_signing_keys::id.eq(id),
            evidence_signing_keys::public_key.eq(public_key),
        ))
        .on_conflict(evidence_signing_keys::id)
        .do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// Serialises key generation between processes until the transaction ends.
pub async fn lock_key_generation(conn: &mut Conn) -> AppResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('tenantatlas.evidence_signing_key'))")
        .execute(conn)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, Queryable, Selectable, PartialEq)]
#[diesel(table_name = evidence_packs)]
pub struct EvidencePackRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub title: String,
    pub tenant_ids: Vec<Uuid>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub status: String,
    pub created_by: Option<Uuid>,
    pub created_by_actor: String,
    pub created_at: DateTime<Utc>,
    pub built_at: Option<DateTime<Utc>>,
    pub operation_run_id: Option<Uuid>,
    pub storage_key: Option<String>,
    pub size_bytes: Option<i64>,
    pub sha256: Option<String>,
    pub manifest: Option<Value>,
    pub signing_key_id: Option<String>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = evidence_packs)]
pub struct NewEvidencePack {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub title: String,
    pub tenant_ids: Vec<Uuid>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub created_by: Option<Uuid>,
    pub created_by_actor: String,
    pub operation_run_id: Option<Uuid>,
}

pub async fn insert_pack(conn: &mut Conn, new: &NewEvidencePack) -> AppResult<EvidencePackRow> {
    Ok(diesel::insert_into(evidence_packs::table)
        .values(new)
        .returning(EvidencePackRow::as_returning())
        .get_result(conn)
        .await?)
}

pub async fn find_pack_workspace(conn: &mut Conn, id: Uuid) -> AppResult<Option<Uuid>> {
    Ok(evidence_packs::table
        .filter(evidence_packs::id.eq(id))
        .select(evidence_packs::workspace_id)
        .first(conn)
        .await
        .optional()?)
}

pub async fn find_pack(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<Option<EvidencePackRow>> {
    Ok(evidence_packs::table
        .filter(evidence_packs::workspace_id.eq(workspace.0))
        .filter(evidence_packs::id.eq(id))
        .select(EvidencePackRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

/// Locks a pack row until the transaction ends.
pub async fn lock_pack(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
) -> AppResult<Option<EvidencePackRow>> {
    Ok(evidence_packs::table
        .filter(evidence_packs::workspace_id.eq(workspace.0))
        .filter(evidence_packs::id.eq(id))
        .select(EvidencePackRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()?)
}

/// The pack a build run works on.
pub async fn find_pack_by_run(
    conn: &mut Conn,
    workspace: WorkspaceId,
    run: Uuid,
) -> AppResult<Option<EvidencePackRow>> {
    Ok(evidence_packs::table
        .filter(evidence_packs::workspace_id.eq(workspace.0))
        .filter(evidence_packs::operation_run_id.eq(run))
        .select(EvidencePackRow::as_select())
        .first(conn)
        .await
        .optional()?)
}

pub async fn list_packs_by_ids(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<EvidencePackRow>> {
    Ok(evidence_packs::table
        .filter(evidence_packs::workspace_id.eq_any(workspaces))
        .filter(evidence_packs::id.eq_any(ids))
        .select(EvidencePackRow::as_select())
        .load(conn)
        .await?)
}

/// Pack counts of several workspaces.
pub async fn count_packs_by_workspaces(
    conn: &mut Conn,
    workspaces: &[Uuid],
) -> AppResult<Vec<(Uuid, i64)>> {
    Ok(evidence_packs::table
        .filter(evidence_packs::workspace_id.eq_any(workspaces))
        .group_by(evidence_packs::workspace_id)
        .select((evidence_packs::workspace_id, diesel::dsl::count_star()))
        .load(conn)
        .await?)
}

/// The same window of packs (newest first) for several workspaces, in one statement.
pub async fn list_packs_by_workspaces(
    conn: &mut Conn,
    workspaces: &[Uuid],
    window: Window,
) -> AppResult<Vec<EvidencePackRow>> {
    use diesel::sql_types;
    #[derive(QueryableByName)]
    struct Id {
        #[diesel(sql_type = sql_types::Uuid)]
        id: Uuid,
    }
    let ids: Vec<Id> = diesel::sql_query(
        "SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY workspace_id \
             ORDER BY created_at DESC, id DESC) AS rn FROM evidence_packs WHERE workspace_id = ANY($1)) r \
         WHERE rn > $2 AND rn <= $2 + $3",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::BigInt, _>(window.offset)
    .bind::<sql_types::BigInt, _>(window.limit)
    .load(conn)
    .await?;
    let ids: Vec<Uuid> = ids.into_iter().map(|r| r.id).collect();
    let mut rows = evidence_packs::table
        .filter(evidence_packs::workspace_id.eq_any(workspaces))
        .filter(evidence_packs::id.eq_any(&ids))
        .select(EvidencePackRow::as_select())
        .load(conn)
        .await?;
    rows.sort_by(|a, b| {
        (
            a.workspace_id,
            std::cmp::Reverse(a.created_at),
            std::cmp::Reverse(a.id),
        )
            .cmp(&(
                b.workspace_id,
                std::cmp::Reverse(b.created_at),
                std::cmp::Reverse(b.id),
            ))
    });
    Ok(rows)
}

/// QUEUED (or a resumed BUILDING) -> BUILDING.
pub async fn mark_building(conn: &mut Conn, workspace: WorkspaceId, id: Uuid) -> AppResult<bool> {
    let n = diesel::update(
        evidence_packs::table
            .filter(evidence_packs::workspace_id.eq(workspace.0))
            .filter(evidence_packs::id.eq(id))
            .filter(evidence_packs::status.eq_any(["QUEUED", "BUILDING"])),
    )
    .set(evidence_packs::status.eq("BUILDING"))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// What a finished build records.
pub struct BuiltPack<'a> {
    pub storage_key: &'a str,
    pub size_bytes: i64,
    pub sha256: &'a str,
    pub manifest: &'a Value,
    pub signing_key_id: &'a str,
    pub built_at: DateTime<Utc>,
}

/// BUILDING -> READY, with what was built. False when the pack is gone or not building.
pub async fn mark_ready(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
    built: BuiltPack<'_>,
) -> AppResult<bool> {
    let n = diesel::update(
        evidence_packs::table
            .filter(evidence_packs::workspace_id.eq(workspace.0))
            .filter(evidence_packs::id.eq(id))
            .filter(evidence_packs::status.eq("BUILDING")),
    )
    .set((
        evidence_packs::status.eq("READY"),
        evidence_packs::storage_key.eq(built.storage_key),
        evidence_packs::size_bytes.eq(built.size_bytes),
        evidence_packs::sha256.eq(built.sha256),
        evidence_packs::manifest.eq(built.manifest),
        evidence_packs::signing_key_id.eq(built.signing_key_id),
        evidence_packs::built_at.eq(built.built_at),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// QUEUED/BUILDING -> FAILED with a reason safe to show.
pub async fn mark_failed(
    conn: &mut Conn,
    workspace: WorkspaceId,
    id: Uuid,
    error: &str,
) -> AppResult<bool> {
    let n = diesel::update(
        evidence_packs::table
            .filter(evidence_packs::workspace_id.eq(workspace.0))
            .filter(evidence_packs::id.eq(id))
            .filter(evidence_packs::status.eq_any(["QUEUED", "BUILDING"])),
    )
    .set((
        evidence_packs::status.eq("FAILED"),
        evidence_packs::error.eq(error),
    ))
    .execute(conn)
    .await?;
    Ok(n == 1)
}

pub async fn delete_pack(conn: &mut Conn, workspace: WorkspaceId, id: Uuid) -> AppResult<bool> {
    let n = diesel::delete(
        evidence_packs::table
            .filter(evidence_packs::workspace_id.eq(workspace.0))
            .filter(evidence_packs::id.eq(id)),
    )
    .execute(conn)
    .await?;
    Ok(n == 1)
}

/// Fails the unfinished packs built by these runs (the runs ended without building them:
/// cancelled while queued, or abandoned by their workers).
/// Returns the packs failed.
pub async fn fail_packs_of_runs(
    conn: &mut Conn,
    runs: &[Uuid],
    error: &str,
) -> AppResult<Vec<Uuid>> {
    if runs.is_empty() {
        return Ok(Vec::new());
    }
    Ok(diesel::update(
        evidence_packs::table
            .filter(evidence_packs::operation_run_id.eq_any(runs))
            .filter(evidence_packs::status.eq_any(["QUEUED", "BUILDING"])),
    )
    .set((
        evidence_packs::status.eq("FAILED"),
        evidence_packs::error.eq(error),
    ))
    .returning(evidence_packs::id)
    .get_results(conn)
    .await?)
}
