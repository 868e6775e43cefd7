//! Opaque global ids (`base64url("Type:uuid")`) and the Relay `Node` interface.
use async_graphql::{Context, Interface, ID};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use uuid::Uuid;

use super::{
    audit::AuditEvent, baseline::Baseline, evidence::EvidencePack, exception::FindingException,
    finding::Finding, operation_run::OperationRun, policy::Policy, tenant::Tenant, user::User,
    workspace::Workspace,
};
use crate::error::{AppError, AppResult};

/// Object types with global ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeType {
    Workspace,
    Tenant,
    User,
    AuditEvent,
    Policy,
    OperationRun,
    Baseline,
    BaselineItem,
    Finding,
    FindingComment,
    FindingException,
    EvidencePack,
}

impl NodeType {
    fn prefix(self) -> &'static str {
        match self {
            NodeType::Workspace => "Workspace",
            NodeType::Tenant => "Tenant",
            NodeType::User => "User",
            NodeType::AuditEvent => "AuditEvent",
            NodeType::Policy => "Policy",
            NodeType::OperationRun => "OperationRun",
            NodeType::Baseline => "Baseline",
            NodeType::BaselineItem => "BaselineItem",
            NodeType::Finding => "Finding",
            NodeType::FindingComment => "FindingComment",
            NodeType::FindingException => "FindingException",
            NodeType::EvidencePack => "EvidencePack",
        }
    }

    fn from_prefix(p: &str) -> Option<Self> {
        [
            NodeType::Workspace,
            NodeType::Tenant,
            NodeType::User,
            NodeType::AuditEvent,
            NodeType::Policy,
            NodeType::OperationRun,
            NodeType::Baseline,
            NodeType::BaselineItem,
            NodeType::Finding,
            NodeType::FindingComment,
            NodeType::FindingException,
            NodeType::EvidencePack,
        ]
        .into_iter()
        .find(|t| t.prefix() == p)
    }
}

/// Encodes a global id.
pub fn to_global_id(ty: NodeType, id: Uuid) -> ID {
    ID(crate::domain::ids::global_id(ty.prefix(), id))
}

/// Decodes any global id.
pub fn parse_global_id(id: &str) -> Option<(NodeType, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(id.trim_end_matches('=')).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (prefix, raw) = text.split_once(':')?;
    Some((NodeType::from_prefix(prefix)?, Uuid::parse_str(raw).ok()?))
}

/// Decodes a global id that must be of type `ty`; `field` names the input for the error.
pub fn expect_global_id(id: &ID, ty: NodeType, field: &str) -> AppResult<Uuid> {
    match parse_global_id(id) {
        Some((t, uuid)) if t == ty => Ok(uuid),
        _ => Err(AppError::bad_input(
            field,
            format!("not a {} id", ty.prefix()),
        )),
    }
}

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Opaque global id; pass it to `node(id:)`."
))]
pub enum Node {
    Workspace(Workspace),
    Tenant(Tenant),
    User(User),
    AuditEvent(AuditEvent),
    Policy(Policy),
    OperationRun(OperationRun),
    Baseline(Baseline),
    Finding(Finding),
    FindingException(FindingException),
    EvidencePack(EvidencePack),
}

/// Resolves `node(id:)`: null for unknown ids and for objects the caller may not see.
pub async fn resolve_node(ctx: &Context<'_>, id: &ID) -> AppResult<Option<Node>> {
    let Some((ty, uuid)) = parse_global_id(id) else {
        return Ok(None);
    };
    Ok(match ty {
        NodeType::Workspace => Workspace::load_visible(ctx, uuid)
            .await?
            .map(Node::Workspace),
        NodeType::Tenant => Tenant::load_visible(ctx, uuid).await?.map(Node::Tenant),
        NodeType::User => User::load_visible(ctx, uuid).await?.map(Node::User),
        NodeType::AuditEvent => AuditEvent::load_visible(ctx, uuid)
            .await?
            .map(Node::AuditEvent),
        NodeType::Policy => Policy::load_visible(ctx, uuid).await?.map(Node::Policy),
        NodeType::OperationRun => OperationRun::load_visible(ctx, uuid)
            .await?
            .map(Node::OperationRun),
        NodeType::Baseline => Baseline::load_visible(ctx, uuid).await?.map(Node::Baseline),
        NodeType::Finding => Finding::load_visible(ctx, uuid).await?.map(Node::Finding),
        // Items are reached through their baseline.
        NodeType::FindingException => FindingException::load_visible(ctx, uuid)
            .await?
            .map(Node::FindingException),
        NodeType::EvidencePack => EvidencePack::load_visible(ctx, uuid)
            .await?
            .map(Node::EvidencePack),
        NodeType::BaselineItem | NodeType::FindingComment => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip_and_reject_garbage() {
        let u = Uuid::new_v4();
        let id = to_global_id(NodeType::Tenant, u);
        assert_eq!(parse_global_id(&id), Some((NodeType::Tenant, u)));
        assert!(expect_global_id(&id, NodeType::Workspace, "workspaceId").is_err());
        assert_eq!(parse_global_id("!!!"), None);
        assert_eq!(parse_global_id(&URL_SAFE_NO_PAD.encode("Nope:1")), None);
    }
}
