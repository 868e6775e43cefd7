//! Audit events.
use super::scalars::DateTime;
use async_graphql::{Context, Json, Object, ID};
use uuid::Uuid;

use super::{
    access, app,
    node::{to_global_id, NodeType},
};
use crate::{
    authz::Capability,
    domain::ids::WorkspaceId,
    error::AppResult,
    store::{self, audit::AuditEventRow},
};

/// One append-only audit record: who did what to which object, when.
#[derive(Clone, Debug)]
pub struct AuditEvent(pub AuditEventRow);

impl AuditEvent {
    /// Loads an event the caller may read (`audit.read` in its workspace), else `None`.
    pub async fn load_visible(ctx: &Context<'_>, id: Uuid) -> AppResult<Option<Self>> {
        let mut conn = app(ctx).db.conn().await?;
        let Some(Some(workspace)) = store::audit::find_event_workspace(&mut conn, id).await? else {
            return Ok(None);
        };
        if !access(ctx)
            .can_see(WorkspaceId(workspace), Capability::AuditRead)
            .await?
        {
            return Ok(None);
        }
        Ok(
            store::audit::list_events_by_ids(&mut conn, &[workspace], &[id])
                .await?
                .into_iter()
                .next()
                .map(AuditEvent),
        )
    }
}

#[Object]
impl AuditEvent {
    /// Opaque global id.
    pub async fn id(&self) -> ID {
        to_global_id(NodeType::AuditEvent, self.0.id)
    }

    /// Position in the workspace's chain, from 1.
    async fn sequence(&self) -> i64 {
        self.0.seq
    }

    /// Who acted: `user:<e-mail>` or `system:<component>`.
    async fn actor(&self) -> &str {
        &self.0.actor
    }

    /// What was done, e.g. `tenant.create`, `role.grant`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    /// Type of the object acted on.
    async fn target_type(&self) -> &str {
        &self.0.target_type
    }

    /// Id of the object acted on.
    async fn target_id(&self) -> &str {
        &self.0.target_id
    }

    /// State before the change, where it applies.
    async fn before(&self) -> Option<Json<serde_json::Value>> {
        self.0.before.clone().map(Json)
    }

    /// State after the change, where it applies.
    async fn after(&self) -> Option<Json<serde_json::Value>> {
        self.0.after.clone().map(Json)
    }

    /// When it happened.
    async fn occurred_at(&self) -> DateTime {
        self.0.occurred_at.into()
    }

    /// Hash of the previous event in the chain.
    async fn prev_hash(&self) -> &str {
        &self.0.prev_hash
    }

    /// `sha256(prevHash || canonical event)`.
    async fn hash(&self) -> &str {
        &self.0.hash
    }
}
