//! Findings: identity (fingerprint), titles, the workflow's status rules, and the
//! compliance score.
//!
//! Lifecycle across evaluations: a finding still detected has its `lastSeenAt` moved; one
//! no longer detected is RESOLVED ("no longer detected"); a RESOLVED one detected again
//! (including one resolved by hand) is OPEN again with `reopenCount` incremented.
//! RISK_ACCEPTED findings stay so while detected.
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::drift::{DriftKind, Severity};

/// Where a finding is in its workflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FindingStatus {
    Open,
    Triaged,
    InProgress,
    Resolved,
    RiskAccepted,
}

impl FindingStatus {
    pub const ALL: [FindingStatus; 5] = [
        FindingStatus::Open,
        FindingStatus::Triaged,
        FindingStatus::InProgress,
        FindingStatus::Resolved,
        FindingStatus::RiskAccepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Open => "OPEN",
            FindingStatus::Triaged => "TRIAGED",
            FindingStatus::InProgress => "IN_PROGRESS",
            FindingStatus::Resolved => "RESOLVED",
            FindingStatus::RiskAccepted => "RISK_ACCEPTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Open drift: counts against the compliance score.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            FindingStatus::Open | FindingStatus::Triaged | FindingStatus::InProgress
        )
    }
}

/// A workflow step a person takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkflowAction {
    Triage,
    Start,
    Resolve,
    Assign,
    Comment,
}

impl WorkflowAction {
    /// The audit action and history entry name.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowAction::Triage => "finding.triage",
            WorkflowAction::Start => "finding.start",
            WorkflowAction::Resolve => "finding.resolve",
            WorkflowAction::Assign => "finding.assign",
            WorkflowAction::Comment => "finding.comment",
        }
    }

    /// The statuses the step may start from.
    pub fn allowed_from(self) -> &'static [FindingStatus] {
        use FindingStatus::*;
        match self {
            WorkflowAction::Triage => &[Open],
            WorkflowAction::Start => &[Open, Triaged],
            WorkflowAction::Resolve | WorkflowAction::Assign => &[Open, Triaged, InProgress],
            WorkflowAction::Comment => &[Open, Triaged, InProgress, Resolved, RiskAccepted],
        }
    }

    /// The status after the step (`None`: unchanged).
    pub fn target(self) -> Option<FindingStatus> {
        match self {
            WorkflowAction::Triage => Some(FindingStatus::Triaged),
            WorkflowAction::Start => Some(FindingStatus::InProgress),
            WorkflowAction::Resolve => Some(FindingStatus::Resolved),
            WorkflowAction::Assign | WorkflowAction::Comment => None,
        }
    }

    /// Checks the step against the current status; the message explains a refusal.
    pub fn check(self, from: FindingStatus) -> Result<Option<FindingStatus>, String> {
        if self.allowed_from().contains(&from) {
            return Ok(self.target());
        }
        let allowed: Vec<&str> = self.allowed_from().iter().map(|s| s.as_str()).collect();
        Err(format!(
            "the finding is {}; {} is only possible from {}",
            from.as_str(),
            self.as_str(),
            allowed.join(", ")
        ))
    }
}

/// The finding's identity: one per (tenant, baseline, baseline policy, path, kind), so
/// repeated evaluations never duplicate. The baseline policy is its lineage (stable
/// across baseline versions).
pub fn fingerprint(
    tenant: Uuid,
    baseline: Uuid,
    lineage: Uuid,
    kind: DriftKind,
    path: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    for part in [
        tenant.to_string().as_str(),
        baseline.to_string().as_str(),
        lineage.to_string().as_str(),
        kind.as_str(),
        path.unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// A one-line title.
pub fn title(kind: DriftKind, policy: &str, path: Option<&str>) -> String {
    let path = path.unwrap_or("");
    match kind {
        DriftKind::MissingPolicy => format!("Policy \"{policy}\" is missing from the tenant"),
        DriftKind::GhostPolicy => format!("Policy \"{policy}\" was deleted from the tenant"),
        DriftKind::AmbiguousMatch => format!(
            "Policy \"{policy}\" matches several tenant policies; map one with mapBaselinePolicy"
        ),
        DriftKind::SettingMismatch => format!("{path} differs from the baseline in \"{policy}\""),
        DriftKind::MissingSetting => format!("{path} is not configured in \"{policy}\""),
        DriftKind::UnexpectedSetting => {
            format!("{path} is configured in \"{policy}\" but not in the baseline")
        }
    }
}

/// The compliance score, 0-100: the share of the checked weight that is neither open
/// drift nor accepted risk, rounded down (so any open drift shows below 100). `None` when
/// nothing was checked.
pub fn compliance_score(total_weight: u64, drift_weight: u64, accepted_weight: u64) -> Option<i32> {
    if total_weight == 0 {
        return None;
    }
    let bad = drift_weight
        .saturating_add(accepted_weight)
        .min(total_weight);
    Some(((total_weight - bad) * 100 / total_weight) as i32)
}

/// The percentage `part` is of `total` (0 when nothing was checked).
pub fn percent(part: u64, total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    (part.min(total) as f64 * 1000.0 / total as f64).round() / 10.0
}

/// Severity of a stored finding (defaults to MEDIUM for unknown text).
pub fn severity_of(s: &str) -> Severity {
    Severity::parse(s).unwrap_or(Severity::Medium)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_identify_tenant_baseline_policy_path_and_kind() {
        let (t, b, l) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let f = fingerprint(t, b, l, DriftKind::SettingMismatch, Some("a"));
        assert_eq!(
            f,
            fingerprint(t, b, l, DriftKind::SettingMismatch, Some("a"))
        );
        assert_ne!(
            f,
            fingerprint(t, b, l, DriftKind::MissingSetting, Some("a"))
        );
        assert_ne!(
            f,
            fingerprint(t, b, l, DriftKind::SettingMismatch, Some("b"))
        );
        assert_ne!(
            f,
            fingerprint(Uuid::new_v4(), b, l, DriftKind::SettingMismatch, Some("a"))
        );
    }

    #[test]
    fn workflow_steps_check_the_current_status() {
        assert_eq!(
            WorkflowAction::Triage.check(FindingStatus::Open),
            Ok(Some(FindingStatus::Triaged))
        );
        assert!(WorkflowAction::Triage
            .check(FindingStatus::Triaged)
            .is_err());
        assert!(WorkflowAction::Start
            .check(FindingStatus::Resolved)
            .is_err());
        assert_eq!(
            WorkflowAction::Resolve.check(FindingStatus::InProgress),
            Ok(Some(FindingStatus::Resolved))
        );
        assert_eq!(
            WorkflowAction::Comment.check(FindingStatus::Resolved),
            Ok(None)
        );
        assert!(WorkflowAction::Assign
            .check(FindingStatus::RiskAccepted)
            .is_err());
    }

    #[test]
    fn the_score_counts_drift_and_accepted_risk_against_compliance() {
        assert_eq!(compliance_score(0, 0, 0), None);
        assert_eq!(compliance_score(100, 0, 0), Some(100));
        assert_eq!(compliance_score(100, 1, 0), Some(99));
        assert_eq!(compliance_score(100, 20, 30), Some(50));
        assert_eq!(compliance_score(10, 50, 0), Some(0));
        assert_eq!(percent(1, 3), 33.3);
    }
}
