//! Risk acceptance through GraphQL: requests, four-eyes decisions, revoke, renewals,
//! expiry with a moved clock, accepted values watched by drift evaluations, roles.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;

use chrono::{Duration, Utc};
use common::*;
use serde_json::{json, Value};

const EXCEPTION: &str = "id status scope settingPath acceptedValue justification compensatingControls ticketReference \
    requestedBy { email } requestedAt decidedBy { email } decidedAt decisionComment expiresAt expiresInDays inForce supersededAt \
    renewalOf { id status } history { action actor comment } finding { id status }";

struct Risk {
    app: TestApp,
    admin: String,
    ws: String,
    target: String,
    finding: String,
    target_dir: PathBuf,
}

/// A workspace where the target tenant drifts from the baseline in one setting (one
/// finding), with an operator, a manager, an owner, an auditor and a readonly member.
async fn risk() -> Risk {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let d = drifted_workspace(&app, &admin, "Risk", "risk").await;
    Risk {
        app,
        admin,
        ws: d.ws,
        target: d.target,
        finding: d.finding,
        target_dir: d.target_dir,
    }
}

fn days(n: i64) -> String {
    (Utc::now() + Duration::days(n)).to_rfc3339()
}

impl Risk {
    fn token(&self, who: &str) -> String {
        self.app.token(&format!("{who}@msp.test"))
    }

    async fn call(&self, who: &str, mutation: &str, input: Value) -> Value {
        let ty = match mutation {
            "requestFindingException" => "RequestFindingExceptionInput",
            "renewFindingException" => "RenewFindingExceptionInput",
            _ => "DecideFindingExceptionInput",
        };
        self.app
            .gql(Some(&self.token(who)), &format!("mutation($i: {ty}!) {{ {mutation}(input: $i) {{ exception {{ {EXCEPTION} }} }} }}"), json!({"i": input}))
            .await
    }

    async fn request(&self, who: &str, expires_in: i64) -> Value {
        let r = self
            .call(who, "requestFindingException", json!({"findingId": self.finding, "justification": "The legacy kiosk app needs short PINs", "compensatingControls": "Kiosks are on an isolated VLAN", "ticketReference": "PSA-4711", "expiresAt": days(expires_in)}))
            .await;
        assert!(r.get("errors").is_none(), "{r}");
        r["data"]["requestFindingException"]["exception"].clone()
    }

    async fn decide(&self, who: &str, mutation: &str, id: &Value) -> Value {
        let r = self
            .call(
                who,
                mutation,
                json!({"exceptionId": id, "comment": "reviewed"}),
            )
            .await;
        assert!(r.get("errors").is_none(), "{mutation}: {r}");
        r["data"][mutation]["exception"].clone()
    }

    async fn finding(&self) -> Value {
        self.app
            .gql_ok(&self.admin, "query($id: ID!) { node(id: $id) { ... on Finding { id status reopenCount actualValue exceptions { id status } history { action } } } }", json!({"id": self.finding}))
            .await["node"]
            .clone()
    }

    async fn exception(&self, id: &Value) -> Value {
        self.app
            .gql_ok(&self.admin, &format!("query($id: ID!) {{ node(id: $id) {{ ... on FindingException {{ {EXCEPTION} }} }} }}"), json!({"id": id}))
            .await["node"]
            .clone()
    }

    /// Runs a sweep now (the workers may have queued one already: then that one is waited
    /// for and this one queued after it).
    async fn sweep(&self) {
        let deadline = std::time::Instant::now() + TIMEOUT;
        let run = loop {
            let resp = self
                .app
                .gql(Some(&self.token("mgr")), "mutation($i: StartExceptionExpirySweepInput!) { startExceptionExpirySweep(input: $i) { operationRun { id kind } } }", json!({"i": {"workspaceId": self.ws}}))
                .await;
            if resp.get("errors").is_none() {
                break resp["data"]["startExceptionExpirySweep"]["operationRun"].clone();
            }
            assert_eq!(error_code(&resp), "CONFLICT", "{resp}");
            assert!(
                std::time::Instant::now() < deadline,
                "a queued sweep never ran"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        assert_eq!(run["kind"], "EXCEPTION_EXPIRY");
        let done = self
            .app
            .wait_run(&self.admin, run["id"].as_str().unwrap())
            .await;
        assert_eq!(done["status"], "SUCCEEDED", "{done}");
    }
}

fn actions(v: &Value) -> Vec<String> {
    v["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_approved_by_another_person_accepts_the_risk_and_the_register_shows_it() {
    let r = risk().await;
    let ex = r.request("op", 30).await;
    assert_eq!(ex["status"], "PENDING");
    assert_eq!(ex["requestedBy"]["email"], "op@msp.test");
    assert_eq!(ex["ticketReference"], "PSA-4711");
    assert_eq!(ex["scope"], "FINDING");
    assert_eq!(ex["expiresInDays"], 30);

    let approved = r.decide("own", "approveFindingException", &ex["id"]).await;
    assert_eq!(approved["status"], "APPROVED");
    assert_eq!(approved["decidedBy"]["email"], "own@msp.test");
    assert_eq!(
        approved["acceptedValue"], 4,
        "the value at approval is pinned"
    );
    assert_eq!(approved["inForce"], true);
    assert_eq!(approved["finding"]["status"], "RISK_ACCEPTED");
    assert_eq!(
        actions(&approved),
        vec!["exception.request", "exception.approve"]
    );

    // The register, filtered.
    let reg = |filter: Value| {
        let app = &r.app;
        let token = r.token("aud");
        let ws = r.ws.clone();
        async move {
            app.gql_ok(&token, &format!("query($id: ID!, $f: ExceptionFilter) {{ workspace(id: $id) {{ exceptions(filter: $f) {{ totalCount edges {{ node {{ {EXCEPTION} }} }} }} }} }}"), json!({"id": ws, "f": filter}))
                .await["workspace"]["exceptions"]
                .clone()
        }
    };
    assert_eq!(reg(json!({"status": "APPROVED"})).await["totalCount"], 1);
    assert_eq!(
        reg(json!({"expiringWithinDays": 14})).await["totalCount"],
        0
    );
    let soon = reg(json!({"expiringWithinDays": 31, "tenantId": r.target})).await;
    assert_eq!(soon["totalCount"], 1);
    assert_eq!(
        soon["edges"][0]["node"]["justification"],
        "The legacy kiosk app needs short PINs"
    );

    // Accepted risk is neither compliant nor open drift.
    let score = r
        .app
        .gql_ok(&r.admin, "query($id: ID!) { tenant(id: $id) { complianceScore { score openDriftWeight acceptedRiskWeight acceptedRiskPercent acceptedFindings openFindings { total } } } }", json!({"id": r.target}))
        .await["tenant"]["complianceScore"]
        .clone();
    assert_eq!(score["openDriftWeight"], 0, "{score}");
    assert_eq!(score["openFindings"]["total"], 0);
    assert_eq!(score["acceptedFindings"], 1);
    assert!(score["acceptedRiskWeight"].as_i64().unwrap() > 0);
    assert!(
        score["score"].as_i64().unwrap() < 100,
        "accepted risk is not compliance: {score}"
    );

    // Evaluations keep watching: unchanged value, still accepted.
    r.app.gql_ok(&r.admin, "mutation($i: StartDriftEvaluationInput!) { startDriftEvaluation(input: $i) { operationRun { id } } }", json!({"i": {"tenantId": r.target}})).await;
    wait_evaluations(&r.app, &r.admin, &r.ws, &r.target, 2).await;
    assert_eq!(r.finding().await["status"], "RISK_ACCEPTED");

    // Who did what is in the audit trail.
    let audit = r
        .app
        .gql_ok(&r.admin, "query($id: ID!) { workspace(id: $id) { auditEvents(first: 100) { edges { node { action actor } } } } }", json!({"id": r.ws}))
        .await;
    let logged: Vec<(String, String)> = audit["workspace"]["auditEvents"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["node"]["action"].as_str().unwrap().into(),
                e["node"]["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        logged.contains(&("exception.request".into(), "user:op@msp.test".into())),
        "{logged:?}"
    );
    assert!(logged.contains(&("exception.approve".into(), "user:own@msp.test".into())));
    assert!(logged.contains(&("finding.risk_accept".into(), "user:own@msp.test".into())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_invalid_request_is_refused_with_its_code_and_nothing_changes() {
    let r = risk().await;
    let req = |input: Value| r.call("mgr", "requestFindingException", input);
    let base = |over: Value| {
        let mut v = json!({"findingId": r.finding, "justification": "The legacy kiosk app needs short PINs", "expiresAt": days(30)});
        for (k, val) in over.as_object().unwrap() {
            v[k] = val.clone();
        }
        v
    };
    let cases = [
        (
            base(json!({"justification": "too short"})),
            "BAD_USER_INPUT",
            "justification",
        ),
        (
            base(json!({"expiresAt": days(-1)})),
            "BAD_USER_INPUT",
            "expiresAt",
        ),
        (
            base(json!({"expiresAt": days(400)})),
            "BAD_USER_INPUT",
            "expiresAt",
        ),
        (
            base(json!({"settingPath": "somethingElse"})),
            "BAD_USER_INPUT",
            "settingPath",
        ),
        (
            base(json!({"findingId": r.target})),
            "BAD_USER_INPUT",
            "findingId",
        ),
        (
            base(
                json!({"findingId": tenantatlas::api::node::to_global_id(tenantatlas::api::node::NodeType::Finding, uuid::Uuid::new_v4()).0}),
            ),
            "NOT_FOUND",
            "",
        ),
        (
            base(json!({"justification": "x\u{0}".repeat(20)})),
            "BAD_USER_INPUT",
            "justification",
        ),
        (
            base(json!({"justification": "\u{200b}\u{202e}".repeat(20)})),
            "BAD_USER_INPUT",
            "justification",
        ),
    ];
    for (input, code, field) in cases {
        let resp = req(input.clone()).await;
        assert_eq!(error_code(&resp), code, "{input}: {resp}");
        if !field.is_empty() {
            assert_eq!(resp["errors"][0]["extensions"]["field"], field, "{resp}");
        }
    }
    // The workspace's maximum applies.
    r.app.gql_ok(&r.admin, "mutation($i: UpdateWorkspaceInput!) { updateWorkspace(input: $i) { workspace { exceptionMaxDays } } }", json!({"i": {"workspaceId": r.ws, "exceptionMaxDays": 10}})).await;
    let resp = req(base(json!({"expiresAt": days(20)}))).await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT", "{resp}");
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("10 days"),
        "{resp}"
    );
    let resp = r.app.gql(Some(&r.admin), "mutation($i: UpdateWorkspaceInput!) { updateWorkspace(input: $i) { workspace { id } } }", json!({"i": {"workspaceId": r.ws, "exceptionMaxDays": 0}})).await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT");
    let none = r
        .app
        .gql_ok(
            &r.admin,
            "query($id: ID!) { workspace(id: $id) { exceptions { totalCount } } }",
            json!({"id": r.ws}),
        )
        .await;
    assert_eq!(
        none["workspace"]["exceptions"]["totalCount"], 0,
        "nothing was created"
    );

    // One pending or approved exception per finding.
    let ex = r.request("mgr", 5).await;
    let resp = req(base(json!({"expiresAt": days(5)}))).await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");
    // Decisions only on PENDING; renewals only of APPROVED; the requester never decides.
    let resp = r
        .call(
            "mgr",
            "approveFindingException",
            json!({"exceptionId": ex["id"]}),
        )
        .await;
    assert_eq!(error_code(&resp), "FORBIDDEN", "{resp}");
    assert!(
        resp["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("four-eyes"),
        "{resp}"
    );
    let resp = r.call("own", "renewFindingException", json!({"exceptionId": ex["id"], "expiresAt": days(8), "justification": "still needed for the kiosks"})).await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");
    let resp = r
        .call(
            "own",
            "revokeFindingException",
            json!({"exceptionId": ex["id"]}),
        )
        .await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");
    r.decide("own", "rejectFindingException", &ex["id"]).await;
    let resp = r
        .call(
            "own",
            "approveFindingException",
            json!({"exceptionId": ex["id"]}),
        )
        .await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");
    assert_eq!(
        r.finding().await["status"],
        "OPEN",
        "a rejection accepts nothing"
    );
    // A renewal must end later than what it renews.
    let ex = r.request("mgr", 5).await;
    r.decide("own", "approveFindingException", &ex["id"]).await;
    let resp = r.call("op", "renewFindingException", json!({"exceptionId": ex["id"], "expiresAt": days(3), "justification": "still needed for the kiosks"})).await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT", "{resp}");
    // An accepted finding cannot be requested again.
    let resp = req(base(json!({"expiresAt": days(5)}))).await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");
    // The workspace's maximum is checked again at approval.
    r.decide("own", "revokeFindingException", &ex["id"]).await;
    let long = r.request("mgr", 9).await;
    r.app
        .gql_ok(&r.admin, "mutation($i: UpdateWorkspaceInput!) { updateWorkspace(input: $i) { workspace { id } } }", json!({"i": {"workspaceId": r.ws, "exceptionMaxDays": 3}}))
        .await;
    let resp = r
        .call(
            "own",
            "approveFindingException",
            json!({"exceptionId": long["id"]}),
        )
        .await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");
    // Wrong id type for a decision.
    let resp = r
        .call(
            "own",
            "approveFindingException",
            json!({"exceptionId": r.finding}),
        )
        .await;
    assert_eq!(error_code(&resp), "BAD_USER_INPUT", "{resp}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_approvers_at_once_one_wins_and_revoking_reopens_the_finding() {
    let r = risk().await;
    let ex = r.request("op", 30).await;
    let (a, b) = tokio::join!(
        r.call(
            "mgr",
            "approveFindingException",
            json!({"exceptionId": ex["id"]})
        ),
        r.call(
            "own",
            "approveFindingException",
            json!({"exceptionId": ex["id"]})
        )
    );
    let ok = [&a, &b]
        .iter()
        .filter(|x| x.get("errors").is_none())
        .count();
    assert_eq!(ok, 1, "exactly one approval wins: {a} {b}");
    let loser = if a.get("errors").is_some() { &a } else { &b };
    assert_eq!(error_code(loser), "CONFLICT", "{loser}");
    let e = r.exception(&ex["id"]).await;
    assert_eq!(e["status"], "APPROVED");
    assert_eq!(
        actions(&e)
            .iter()
            .filter(|a| *a == "exception.approve")
            .count(),
        1
    );

    let revoked = r.decide("mgr", "revokeFindingException", &ex["id"]).await;
    assert_eq!(revoked["status"], "REVOKED");
    let f = r.finding().await;
    assert_eq!(f["status"], "OPEN");
    assert!(actions(&f).contains(&"finding.reopen".to_string()), "{f}");
    // A new request is possible again.
    r.request("op", 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewals_chain_and_expiry_with_a_moved_clock_reopens_the_finding_without_anyone_acting() {
    let r = risk().await;
    let first = r.request("op", 20).await;
    r.decide("mgr", "approveFindingException", &first["id"])
        .await;
    let renewal = r
        .call("op", "renewFindingException", json!({"exceptionId": first["id"], "expiresAt": days(60), "justification": "The vendor fix slipped to next quarter"}))
        .await;
    let renewal = renewal["data"]["renewFindingException"]["exception"].clone();
    assert_eq!(renewal["status"], "PENDING", "{renewal}");
    assert_eq!(renewal["renewalOf"]["id"], first["id"]);
    assert_eq!(
        renewal["renewalOf"]["status"], "APPROVED",
        "the old one stays in force"
    );
    let renewal = r
        .decide("own", "approveFindingException", &renewal["id"])
        .await;
    assert_eq!(renewal["status"], "APPROVED");
    // The chain does not fork: only its newest exception can be renewed.
    let again = r
        .call("op", "renewFindingException", json!({"exceptionId": first["id"], "expiresAt": days(70), "justification": "The vendor fix slipped to next quarter"}))
        .await;
    assert_eq!(error_code(&again), "CONFLICT", "{again}");
    let old = r.exception(&first["id"]).await;
    assert_eq!(old["status"], "APPROVED");
    assert_eq!(
        actions(&old),
        vec![
            "exception.request",
            "exception.approve",
            "exception.renewal_requested",
            "exception.renewed"
        ]
    );

    // Within 14 days of its expiry: one "expiring soon" event, however many sweeps.
    r.app.ctx.clock.advance(Duration::days(8));
    r.sweep().await;
    r.sweep().await;
    let old = r.exception(&first["id"]).await;
    assert_eq!(
        actions(&old)
            .iter()
            .filter(|a| *a == "exception.expiring_soon")
            .count(),
        1,
        "{old}"
    );

    // The first expires; the renewal still covers the finding.
    r.app.ctx.clock.advance(Duration::days(13));
    r.sweep().await;
    assert_eq!(r.exception(&first["id"]).await["status"], "EXPIRED");
    assert_eq!(r.finding().await["status"], "RISK_ACCEPTED");

    // The renewal expires too, and nobody acts: the workers' periodic check reopens it.
    r.app.ctx.clock.advance(Duration::days(60));
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let f = r.finding().await;
        if f["status"] == "OPEN" {
            assert_eq!(f["reopenCount"], 1);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the finding never reopened: {f}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let e = r.exception(&renewal["id"]).await;
    assert_eq!(e["status"], "EXPIRED");
    assert!(e["expiresInDays"].as_i64().unwrap() < 0);
    assert_eq!(actions(&e).last().unwrap(), "exception.expire");
    let runs = r
        .app
        .gql_ok(&r.admin, "query($id: ID!) { workspace(id: $id) { operationRuns(filter: {kind: EXCEPTION_EXPIRY}) { edges { node { initiatedBy status message } } } } }", json!({"id": r.ws}))
        .await;
    assert!(
        runs["workspace"]["operationRuns"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["node"]["initiatedBy"] == "system:exceptions"),
        "{runs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_value_while_approved_is_no_longer_covered_and_reopens_the_finding() {
    let r = risk().await;
    let ex = r.request("op", 30).await;
    r.decide("mgr", "approveFindingException", &ex["id"]).await;
    // A pending renewal of it, decided only after the value changed.
    let renewal = r
        .call("op", "renewFindingException", json!({"exceptionId": ex["id"], "expiresAt": days(60), "justification": "The vendor fix slipped to next quarter"}))
        .await["data"]["renewFindingException"]["exception"]["id"]
        .clone();
    // The same value written differently is the same value: no supersede.
    let file = r
        .target_dir
        .join("CompliancePolicies/NW-Compliance-Password.json");
    let mut v = read_json(&file);
    v["passwordMinimumLength"] = json!("4");
    write_json(&file, &v);
    r.app.sync(&r.admin, &r.target, &[]).await;
    wait_evaluations(&r.app, &r.admin, &r.ws, &r.target, 2).await;
    assert_eq!(r.finding().await["status"], "RISK_ACCEPTED", "\"4\" is 4");
    set_min_length(&r.target_dir, 6);
    r.app.sync(&r.admin, &r.target, &[]).await;
    wait_evaluations(&r.app, &r.admin, &r.ws, &r.target, 3).await;
    let f = r.finding().await;
    assert_eq!(f["status"], "OPEN", "{f}");
    assert_eq!(f["actualValue"], 6);
    assert_eq!(f["reopenCount"], 1);
    let e = r.exception(&ex["id"]).await;
    assert!(e["supersededAt"].is_string(), "{e}");
    assert_eq!(e["inForce"], false);
    assert_eq!(e["acceptedValue"], 4);
    let last = e["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "exception.supersede");
    assert!(
        last["comment"]
            .as_str()
            .unwrap()
            .contains("from the accepted 4 to 6"),
        "{last}"
    );
    // The renewal of a superseded acceptance cannot accept the new value.
    let resp = r
        .call(
            "own",
            "approveFindingException",
            json!({"exceptionId": renewal}),
        )
        .await;
    assert_eq!(error_code(&resp), "CONFLICT", "{resp}");
    r.decide("own", "rejectFindingException", &renewal).await;
    // A new request can accept the new value.
    let second = r.request("op", 10).await;
    let second = r
        .decide("mgr", "approveFindingException", &second["id"])
        .await;
    assert_eq!(second["acceptedValue"], 6);
    // If the drift disappears, the finding resolves and the exception stays as history,
    // no longer in force.
    set_min_length(&r.target_dir, 12);
    r.app.sync(&r.admin, &r.target, &[]).await;
    wait_evaluations(&r.app, &r.admin, &r.ws, &r.target, 4).await;
    let f = r.finding().await;
    assert_eq!(f["status"], "RESOLVED");
    assert_eq!(f["exceptions"].as_array().unwrap().len(), 3);
    let closed = r.exception(&second["id"]).await;
    assert_eq!(closed["inForce"], false, "{closed}");
    assert_eq!(actions(&closed).last().unwrap(), "exception.close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_read_the_register_operators_request_and_only_managers_and_owners_approve() {
    let r = risk().await;
    for who in ["ro", "aud"] {
        let reg = r
            .app
            .gql_ok(
                &r.token(who),
                "query($id: ID!) { workspace(id: $id) { exceptions { totalCount } } }",
                json!({"id": r.ws}),
            )
            .await;
        assert_eq!(reg["workspace"]["exceptions"]["totalCount"], 0, "{who}");
        let resp = r.call(who, "requestFindingException", json!({"findingId": r.finding, "justification": "The legacy kiosk app needs short PINs", "expiresAt": days(5)})).await;
        assert_eq!(error_code(&resp), "FORBIDDEN", "{who}: {resp}");
    }
    let ex = r.request("op", 20).await;
    for who in ["ro", "aud", "op"] {
        let resp = r
            .call(
                who,
                "approveFindingException",
                json!({"exceptionId": ex["id"]}),
            )
            .await;
        assert_eq!(error_code(&resp), "FORBIDDEN", "{who}: {resp}");
    }
    // Readers see it, with its history.
    let seen = r.app.gql_ok(&r.token("aud"), &format!("query($id: ID!) {{ node(id: $id) {{ ... on FindingException {{ {EXCEPTION} }} }} }}"), json!({"id": ex["id"]})).await;
    assert_eq!(seen["node"]["status"], "PENDING");
    let stranger = r
        .app
        .gql(
            Some(&r.app.token("stranger@else.test")),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({"id": ex["id"]}),
        )
        .await;
    assert!(stranger["data"]["node"].is_null(), "{stranger}");
    let resp = r.app.gql(Some(&r.app.token("stranger@else.test")), "mutation($i: DecideFindingExceptionInput!) { approveFindingException(input: $i) { exception { id } } }", json!({"i": {"exceptionId": ex["id"]}})).await;
    assert_eq!(error_code(&resp), "NOT_FOUND", "{resp}");
    // Managers and owners approve.
    assert_eq!(
        r.decide("mgr", "approveFindingException", &ex["id"]).await["status"],
        "APPROVED"
    );
    let ex2 = r.call("op", "renewFindingException", json!({"exceptionId": ex["id"], "expiresAt": days(40), "justification": "The vendor fix slipped to next quarter"})).await;
    let id2 = ex2["data"]["renewFindingException"]["exception"]["id"].clone();
    assert_eq!(
        r.decide("own", "approveFindingException", &id2).await["status"],
        "APPROVED"
    );
}
