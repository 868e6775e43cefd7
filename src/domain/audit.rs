//! The audit hash chain.
//!
//! Every chain (one per workspace, plus `*` for platform-level events) is a sequence of
//! events where `hash = sha256(prev_hash || canonical event)` and the first event's
//! `prev_hash` is [`GENESIS_HASH`]. Changing, removing or reordering any event breaks every
//! hash after it, which [`verify_chain`] reports.
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::canonical::canonical_json;

/// `prev_hash` of the first event of every chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The part of an audit event the hash covers.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainedEvent {
    pub chain: String,
    pub seq: i64,
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub occurred_at: DateTime<Utc>,
}

impl ChainedEvent {
    /// The canonical text the hash is computed over. Times are written with microsecond
    /// precision, which is what PostgreSQL keeps.
    pub fn canonical(&self) -> String {
        canonical_json(&json!({
            "chain": self.chain,
            "seq": self.seq,
            "actor": self.actor,
            "action": self.action,
            "targetType": self.target_type,
            "targetId": self.target_id,
            "before": self.before,
            "after": self.after,
            "occurredAt": self.occurred_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        }))
    }

    /// `sha256(prev_hash || canonical event)`, lowercase hex.
    pub fn hash(&self, prev_hash: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(self.canonical().as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// Truncates a time to what PostgreSQL stores (microseconds), so a hash computed before
/// the insert matches the one recomputed after reading the row back.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    let micros = t.timestamp_micros();
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or(t)
}

/// Where a chain stops being valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainBreak {
    pub seq: i64,
    pub reason: String,
}

/// Result of verifying a whole chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    pub events: usize,
    pub head: String,
}

/// Verifies events given in ascending `seq` order with their stored `prev_hash` and `hash`.
pub fn verify_chain<'a>(
    events: impl IntoIterator<Item = (&'a ChainedEvent, &'a str, &'a str)>,
) -> Result<ChainReport, ChainBreak> {
    let mut expected_prev = GENESIS_HASH.to_string();
    let mut count = 0;
    for (expected_seq, (event, prev_hash, hash)) in (1_i64..).zip(events) {
        if event.seq != expected_seq {
            return Err(ChainBreak {
                seq: event.seq,
                reason: format!("expected sequence {expected_seq}, found {}", event.seq),
            });
        }
        if prev_hash != expected_prev {
            return Err(ChainBreak {
                seq: event.seq,
                reason: "prev_hash does not match the previous event's hash".into(),
            });
        }
        let recomputed = event.hash(prev_hash);
        if recomputed != hash {
            return Err(ChainBreak {
                seq: event.seq,
                reason: "stored hash does not match the event's content".into(),
            });
        }
        expected_prev = recomputed;
        count += 1;
    }
    Ok(ChainReport {
        events: count,
        head: expected_prev,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, action: &str) -> ChainedEvent {
        ChainedEvent {
            chain: "w".into(),
            seq,
            actor: "user:ann@contoso.com".into(),
            action: action.into(),
            target_type: "Tenant".into(),
            target_id: "t".into(),
            before: None,
            after: Some(json!({"displayName": "Contoso"})),
            occurred_at: truncate_to_micros(Utc::now()),
        }
    }

    fn chain(events: &[ChainedEvent]) -> Vec<(ChainedEvent, String, String)> {
        let mut prev = GENESIS_HASH.to_string();
        events
            .iter()
            .map(|e| {
                let h = e.hash(&prev);
                let row = (e.clone(), prev.clone(), h.clone());
                prev = h;
                row
            })
            .collect()
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let rows = chain(&[event(1, "a"), event(2, "b"), event(3, "c")]);
        let report =
            verify_chain(rows.iter().map(|(e, p, h)| (e, p.as_str(), h.as_str()))).unwrap();
        assert_eq!(report.events, 3);
        assert_eq!(report.head, rows[2].2);
    }

    #[test]
    fn a_changed_event_breaks_the_chain_at_that_event() {
        let mut rows = chain(&[event(1, "a"), event(2, "b"), event(3, "c")]);
        rows[1].0.after = Some(json!({"displayName": "Evil"}));
        let err =
            verify_chain(rows.iter().map(|(e, p, h)| (e, p.as_str(), h.as_str()))).unwrap_err();
        assert_eq!(err.seq, 2);
    }

    #[test]
    fn a_removed_event_breaks_the_chain() {
        let rows = chain(&[event(1, "a"), event(2, "b"), event(3, "c")]);
        let err = verify_chain(
            [&rows[0], &rows[2]]
                .iter()
                .map(|(e, p, h)| (e, p.as_str(), h.as_str())),
        )
        .unwrap_err();
        assert_eq!(err.seq, 3);
    }
}
