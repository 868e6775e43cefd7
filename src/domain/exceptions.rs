//! Risk acceptance: the rules of finding exceptions.
//!
//! - A request needs a justification of at least 20 characters and an expiry in the
//!   future, no later than the workspace's maximum (`exceptionMaxDays`, default 365).
//! - Only an open finding (OPEN, TRIAGED, IN_PROGRESS) can be accepted, and only while it
//!   has no PENDING or APPROVED exception that still covers it.
//! - The requester never decides their own request (four eyes).
//! - An approved exception covers its finding while the finding's actual value is the
//!   accepted one (pinned at approval) and it has not expired; a changed value supersedes
//!   it and the finding reopens.
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Where an exception is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExceptionStatus {
    Pending,
    Approved,
    Rejected,
    Revoked,
    Expired,
}

impl ExceptionStatus {
    pub const ALL: [ExceptionStatus; 5] = [
        ExceptionStatus::Pending,
        ExceptionStatus::Approved,
        ExceptionStatus::Rejected,
        ExceptionStatus::Revoked,
        ExceptionStatus::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ExceptionStatus::Pending => "PENDING",
            ExceptionStatus::Approved => "APPROVED",
            ExceptionStatus::Rejected => "REJECTED",
            ExceptionStatus::Revoked => "REVOKED",
            ExceptionStatus::Expired => "EXPIRED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// Shortest justification accepted.
pub const MIN_JUSTIFICATION: usize = 20;
/// Longest free text accepted (justification, controls, comments).
pub const MAX_TEXT: usize = 4000;
/// Days before expiry the "expiring soon" event is recorded.
pub const EXPIRING_SOON_DAYS: i64 = 14;

/// Why a request is refused: (field, message).
pub type Refusal = (&'static str, String);

/// Checks a request's justification and expiry against the workspace's maximum.
pub fn check_request(
    justification: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
    max_days: i32,
) -> Result<(), Refusal> {
    let len = visible_len(justification);
    if len < MIN_JUSTIFICATION {
        return Err((
            "justification",
            format!("must be at least {MIN_JUSTIFICATION} visible characters (got {len})"),
        ));
    }
    if justification.trim().chars().count() > MAX_TEXT {
        return Err((
            "justification",
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    if expires_at <= now {
        return Err(("expiresAt", "must be in the future".into()));
    }
    let latest = now + chrono::Duration::days(i64::from(max_days));
    if expires_at > latest {
        return Err((
            "expiresAt",
            format!(
                "must be at most {max_days} days from now (the workspace's exceptionMaxDays), i.e. by {}",
                latest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    Ok(())
}

/// Whole days until expiry (negative once expired), counting a started day as one.
pub fn expires_in_days(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let secs = (expires_at - now).num_seconds();
    if secs >= 0 {
        (secs + 86_399) / 86_400
    } else {
        -((-secs + 86_399) / 86_400)
    }
}

/// Whether an approved exception still covers the finding's actual value: the same
/// meaning, as drift compares values (`8` and `"8"` are one value).
pub fn covers(accepted: Option<&Value>, actual: Option<&Value>) -> bool {
    super::drift::equivalent(accepted, actual)
}

/// Characters that render as nothing: zero-width and bidirectional marks, fillers, blank
/// patterns, variation selectors and tags.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00ad}' | '\u{034f}' | '\u{061c}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180b}'..='\u{180f}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{206f}' | '\u{2800}' | '\u{3164}' | '\u{fe00}'..='\u{fe0f}' | '\u{feff}'
        | '\u{ffa0}' | '\u{1bca0}'..='\u{1bca3}' | '\u{1d173}'..='\u{1d17a}'
        | '\u{e0000}'..='\u{e007f}' | '\u{e0100}'..='\u{e01ef}')
}

/// Characters a reader sees: not whitespace, control or invisible (see [`is_invisible`]).
pub fn visible_len(text: &str) -> usize {
    text.chars()
        .filter(|c| !(c.is_whitespace() || c.is_control() || is_invisible(*c)))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_need_a_real_justification_and_a_bounded_future_expiry() {
        let now = Utc::now();
        let ok = "Vendor app breaks with the stricter setting";
        assert!(check_request(ok, now + chrono::Duration::days(30), now, 365).is_ok());
        assert_eq!(
            check_request("too short", now + chrono::Duration::days(1), now, 365)
                .unwrap_err()
                .0,
            "justification"
        );
        assert_eq!(
            check_request(ok, now - chrono::Duration::days(1), now, 365)
                .unwrap_err()
                .0,
            "expiresAt"
        );
        assert_eq!(
            check_request(ok, now + chrono::Duration::days(31), now, 30)
                .unwrap_err()
                .0,
            "expiresAt"
        );
    }

    #[test]
    fn expiry_days_round_up_and_values_compare_canonically() {
        let now = Utc::now();
        assert_eq!(expires_in_days(now + chrono::Duration::hours(1), now), 1);
        assert_eq!(expires_in_days(now + chrono::Duration::days(14), now), 14);
        assert_eq!(expires_in_days(now - chrono::Duration::hours(1), now), -1);
        assert!(covers(
            Some(&json!({"a": 1, "b": 2})),
            Some(&json!({"b": 2, "a": 1}))
        ));
        assert!(!covers(Some(&json!(8)), Some(&json!(6))));
        assert!(!covers(None, Some(&json!(6))));
        assert!(
            covers(Some(&json!(8)), Some(&json!("8"))),
            "by meaning, not format"
        );
        assert!(covers(Some(&json!(["a", "b"])), Some(&json!(["b", "a"]))));
        assert_eq!(visible_len("\u{200b}\u{202e}\u{1} a b"), 2);
    }
}
