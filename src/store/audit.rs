//! The append-only audit trail and its per-chain hash heads.
use chrono::{DateTime, Utc};
use diesel::{prelude::*, sql_types};
use diesel_async::RunQueryDsl;
use serde_json::Value;
use uuid::Uuid;

use super::{Conn, Window};
use crate::{
    db::schema::{audit_chain_heads, audit_events},
    domain::{
        audit::{truncate_to_micros, ChainedEvent, GENESIS_HASH},
        ids::WorkspaceId,
    },
    error::AppResult,
};

#[derive(Clone, Debug, Queryable, QueryableByName, Selectable, PartialEq)]
#[diesel(table_name = audit_events)]
pub struct AuditEventRow {
    pub id: Uuid,
    pub chain: String,
    pub seq: i64,
    pub workspace_id: Option<Uuid>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub occurred_at: DateTime<Utc>,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEventRow {
    pub fn chained(&self) -> ChainedEvent {
        ChainedEvent {
            chain: self.chain.clone(),
            seq: self.seq,
            actor: self.actor.clone(),
            action: self.action.clone(),
            target_type: self.target_type.clone(),
            target_id: self.target_id.clone(),
            before: self.before.clone(),
            after: self.after.clone(),
            occurred_at: self.occurred_at,
        }
    }
}

/// What a service records.
#[derive(Clone, Debug)]
pub struct NewAuditEvent {
    /// `None`: a platform-level event (chain `*`).
    pub workspace: Option<WorkspaceId>,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The chain name of a workspace (or the platform chain `*`).
pub fn chain_of(workspace: Option<WorkspaceId>) -> String {
    workspace.map_or_else(|| "*".to_string(), |w| w.to_string())
}

/// Appends an event to its chain. Must run inside the mutation's transaction: the chain
/// head is locked until commit, so concurrent appends to one chain serialise.
pub async fn append_event(conn: &mut Conn, new: NewAuditEvent) -> AppResult<AuditEventRow> {
    let chain = chain_of(new.workspace);
    diesel::insert_into(audit_chain_heads::table)
        .values((
            audit_chain_heads::chain.eq(&chain),
            audit_chain_heads::seq.eq(0_i64),
            audit_chain_heads::hash.eq(GENESIS_HASH),
        ))
        .on_conflict(audit_chain_heads::chain)
        .do_nothing()
        .execute(conn)
        .await?;
    let (head_seq, head_hash): (i64, String) = audit_chain_heads::table
        .find(&chain)
        .select((audit_chain_heads::seq, audit_chain_heads::hash))
        .for_update()
        .get_result(conn)
        .await?;
    let event = ChainedEvent {
        chain: chain.clone(),
        seq: head_seq + 1,
        actor: new.actor,
        action: new.action,
        target_type: new.target_type,
        target_id: new.target_id,
        before: new.before,
        after: new.after,
        occurred_at: truncate_to_micros(Utc::now()),
    };
    let hash = event.hash(&head_hash);
    let row = diesel::insert_into(audit_events::table)
        .values((
            audit_events::chain.eq(&chain),
            audit_events::seq.eq(event.seq),
            audit_events::workspace_id.eq(new.workspace.map(|w| w.0)),
            audit_events::actor.eq(&event.actor),
            audit_events::action.eq(&event.action),
            audit_events::target_type.eq(&event.target_type),
            audit_events::target_id.eq(&event.target_id),
            audit_events::before.eq(&event.before),
            audit_events::after.eq(&event.after),
            audit_events::occurred_at.eq(event.occurred_at),
            audit_events::prev_hash.eq(&head_hash),
            audit_events::hash.eq(&hash),
        ))
        .returning(AuditEventRow::as_returning())
        .get_result(conn)
        .await?;
    diesel::update(audit_chain_heads::table.find(&chain))
        .set((
            audit_chain_heads::seq.eq(event.seq),
            audit_chain_heads::hash.eq(&hash),
        ))
        .execute(conn)
        .await?;
    Ok(row)
}

/// Every event of a chain in order (for verification).
pub async fn list_chain(conn: &mut Conn, chain: &str) -> AppResult<Vec<AuditEventRow>> {
    Ok(audit_events::table
        .filter(audit_events::chain.eq(chain))
        .order_by(audit_events::seq.asc())
        .select(AuditEventRow::as_select())
        .load(conn)
        .await?)
}

#[derive(QueryableByName)]
struct WorkspaceCount {
    #[diesel(sql_type = sql_types::Uuid)]
    workspace_id: Uuid,
    #[diesel(sql_type = sql_types::BigInt)]
    n: i64,
}

/// Event counts for several workspaces in one statement.
pub async fn count_events_by_workspaces(
    conn: &mut Conn,
    workspaces: &[Uuid],
) -> AppResult<Vec<(Uuid, i64)>> {
    let rows: Vec<WorkspaceCount> = diesel::sql_query(
        "SELECT workspace_id, count(*) AS n FROM audit_events \
         WHERE workspace_id = ANY($1) GROUP BY workspace_id",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.workspace_id, r.n)).collect())
}

/// The same window of newest-first events for several workspaces, in one statement.
pub async fn list_events_by_workspaces(
    conn: &mut Conn,
    workspaces: &[Uuid],
    window: Window,
) -> AppResult<Vec<AuditEventRow>> {
    Ok(diesel::sql_query(
        "SELECT id, chain, seq, workspace_id, actor, action, target_type, target_id, before, after, \
                occurred_at, prev_hash, hash \
         FROM (SELECT e.*, row_number() OVER (PARTITION BY workspace_id ORDER BY seq DESC) AS rn \
               FROM audit_events e WHERE workspace_id = ANY($1)) ranked \
         WHERE rn > $2 AND rn <= $2 + $3 ORDER BY workspace_id, seq DESC",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(workspaces)
    .bind::<sql_types::BigInt, _>(window.offset)
    .bind::<sql_types::BigInt, _>(window.limit)
    .load(conn)
    .await?)
}

/// Events by id, restricted to the given workspaces.
pub async fn list_events_by_ids(
    conn: &mut Conn,
    workspaces: &[Uuid],
    ids: &[Uuid],
) -> AppResult<Vec<AuditEventRow>> {
    Ok(audit_events::table
        .filter(audit_events::workspace_id.eq_any(workspaces))
        .filter(audit_events::id.eq_any(ids))
        .select(AuditEventRow::as_select())
        .load(conn)
        .await?)
}

/// The workspace an event belongs to.
pub async fn find_event_workspace(conn: &mut Conn, id: Uuid) -> AppResult<Option<Option<Uuid>>> {
    Ok(audit_events::table
        .filter(audit_events::id.eq(id))
        .select(audit_events::workspace_id)
        .first(conn)
        .await
        .optional()?)
}

/// A window of a chain's events that occurred in `[from, to]`, after `after_seq`, by seq.
pub async fn list_chain_between(
    conn: &mut Conn,
    chain: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    after_seq: i64,
    limit: i64,
) -> AppResult<Vec<AuditEventRow>> {
    Ok(audit_events::table
        .filter(audit_events::chain.eq(chain))
        .filter(audit_events::occurred_at.ge(from))
        .filter(audit_events::occurred_at.le(to))
        .filter(audit_events::seq.gt(after_seq))
        .order_by(audit_events::seq.asc())
        .limit(limit)
        .select(AuditEventRow::as_select())
        .load(conn)
        .await?)
}

/// The (seq, hash) of a chain's last event before `at`; `None` when there is none.
pub async fn chain_position_before(
    conn: &mut Conn,
    chain: &str,
    at: DateTime<Utc>,
) -> AppResult<Option<(i64, String)>> {
    Ok(audit_events::table
        .filter(audit_events::chain.eq(chain))
        .filter(audit_events::occurred_at.lt(at))
        .order_by(audit_events::seq.desc())
        .select((audit_events::seq, audit_events::hash))
        .first(conn)
        .await
        .optional()?)
}

/// The current head (seq, hash) of a chain; `None` before its first event.
pub async fn chain_head(conn: &mut Conn, chain: &str) -> AppResult<Option<(i64, String)>> {
    Ok(audit_chain_heads::table
        .find(chain)
        .select((audit_chain_heads::seq, audit_chain_heads::hash))
        .first(conn)
        .await
        .optional()?)
}
