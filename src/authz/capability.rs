//! The single list of capabilities. A capability is `resource.action`; casbin rules store
//! the resource and the action in separate columns.
use std::{fmt, str::FromStr};

macro_rules! capabilities {
    ($($variant:ident => ($obj:literal, $act:literal), $doc:literal;)*) => {
        /// Something a caller may do in a workspace (or, for platform capabilities, anywhere).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Capability {
            $(#[doc = $doc] $variant,)*
        }

        impl Capability {
            /// Every capability, in declaration order.
            pub const ALL: &'static [Capability] = &[$(Capability::$variant,)*];

            /// `(resource, action)` as stored in casbin rules.
            pub fn parts(self) -> (&'static str, &'static str) {
                match self {
                    $(Capability::$variant => ($obj, $act),)*
                }
            }

            /// `resource.action`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Capability::$variant => concat!($obj, ".", $act),)*
                }
            }

            /// What the capability allows, for the README and error messages.
            pub fn description(self) -> &'static str {
                match self {
                    $(Capability::$variant => $doc,)*
                }
            }
        }
    };
}

capabilities! {
    WorkspaceCreate => ("workspace", "create"), "create workspaces (platform)";
    WorkspaceRead => ("workspace", "read"), "see the workspace, pin and favourite it";
    WorkspaceUpdate => ("workspace", "update"), "rename the workspace or change its environment";
    TenantRead => ("tenant", "read"), "see the workspace's tenants";
    TenantCreate => ("tenant", "create"), "add tenants";
    TenantUpdate => ("tenant", "update"), "change tenants";
    MemberRead => ("member", "read"), "see who holds which role";
    MemberManage => ("member", "manage"), "grant and revoke workspace roles";
    AuditRead => ("audit", "read"), "read the audit trail";
    ConnectionManage => ("connection", "manage"), "configure tenants' provider connections";
    PolicyRead => ("policy", "read"), "read the policy inventory";
    InventorySync => ("inventory", "sync"), "start inventory syncs";
    OperationRunRead => ("operation_run", "read"), "see operation runs and their progress";
    OperationRunCancel => ("operation_run", "cancel"), "cancel operation runs";
    SecretInventoryRead => ("secret.inventory", "read"), "list which policies hold which kinds of secrets (never their values)";
    BaselineRead => ("baseline", "read"), "see baselines, their versions, items and assignments";
    BaselineManage => ("baseline", "manage"), "create, update, assign and map baselines";
    FindingRead => ("finding", "read"), "see findings, compliance scores and trends";
    FindingTriage => ("finding", "triage"), "triage, assign, start, resolve and comment on findings";
    DriftEvaluate => ("drift", "evaluate"), "start drift evaluations";
    ExceptionRead => ("exception", "read"), "read the risk-acceptance register and its history";
    ExceptionRequest => ("exception", "request"), "request and renew risk acceptances (exceptions) for findings";
    ExceptionApprove => ("exception", "approve"), "approve, reject and revoke exceptions (never one's own request), run expiry sweeps";
    EvidencePackRead => ("evidence_pack", "read"), "see evidence packs (title, period, status, digest, manifest)";
    EvidencePackCreate => ("evidence_pack", "create"), "build evidence packs";
    EvidencePackDownload => ("evidence_pack", "download"), "download evidence packs (they hold the whole configuration and audit trail)";
    EvidencePackDelete => ("evidence_pack", "delete"), "delete evidence packs";
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Capability {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Capability::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown capability {s:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_names_are_resource_dot_action() {
        for c in Capability::ALL {
            let (obj, act) = c.parts();
            assert_eq!(c.as_str(), format!("{obj}.{act}"));
            assert_eq!(c.as_str().parse::<Capability>().unwrap(), *c);
        }
    }
}
