//! Evidence packs through the public interfaces: created over GraphQL, built by a worker
//! (progress over a subscription), downloaded over HTTP, unzipped and compared with the
//! API, verified with `tenantatlas evidence verify`; tampering, roles, signed links,
//! deletion, validation and secrets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{Read, Write},
    path::{Path, PathBuf},
};

use chrono::{Duration, Utc};
use common::*;
use serde_json::{json, Value};

const PACK: &str = "id title status sizeBytes sha256 manifest signingKeyId error downloadUrl \
    periodStart periodEnd createdAt createdBy { email } tenants { id displayName } \
    operationRun { id kind status processed total message }";

/// A workspace whose "Target" tenant drifts from the baseline (one finding), with an
/// approved exception on it, and members of every workspace role.
struct Fixture {
    app: TestApp,
    admin: String,
    ws: String,
    reference: String,
    target: String,
    finding: String,
}

async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let d = drifted_workspace(&app, &admin, "Evidence", "evidence").await;
    Fixture {
        app,
        admin,
        ws: d.ws,
        reference: d.reference,
        target: d.target,
        finding: d.finding,
    }
}

impl Fixture {
    fn token(&self, who: &str) -> String {
        self.app.token(&format!("{who}@msp.test"))
    }

    /// An exception requested by the operator and approved by the manager.
    async fn accept_risk(&self) -> String {
        let req = self.app.gql_ok(
            &self.token("op"),
            "mutation($i: RequestFindingExceptionInput!) { requestFindingException(input: $i) { exception { id } } }",
            json!({"i": {"findingId": self.finding, "justification": "Kiosks need short PINs until Q2",
                         "compensatingControls": "Isolated VLAN", "ticketReference": "PSA-4711",
                         "expiresAt": (Utc::now() + Duration::days(30)).to_rfc3339()}}),
        )
        .await;
        let id = req["requestFindingException"]["exception"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        self.app
            .gql_ok(
                &self.token("mgr"),
                "mutation($i: DecideFindingExceptionInput!) { approveFindingException(input: $i) { exception { id status } } }",
                json!({"i": {"exceptionId": id, "comment": "approved for the pilot"}}),
            )
            .await;
        id
    }

    async fn create(&self, token: &str, tenants: &[&str]) -> Value {
        self.app
            .gql(
                Some(token),
                &format!("mutation($i: CreateEvidencePackInput!) {{ createEvidencePack(input: $i) {{ evidencePack {{ {PACK} }} operationRun {{ id status }} }} }}"),
                json!({"i": {"workspaceId": self.ws, "title": "Q4 2026 audit", "tenantIds": tenants,
                             "periodStart": (Utc::now() - Duration::days(7)).to_rfc3339(),
                             "periodEnd": (Utc::now() + Duration::minutes(5)).to_rfc3339()}}),
            )
            .await
    }

    async fn pack(&self, token: &str, id: &str) -> Value {
        self.app
            .gql_ok(
                token,
                &format!(
                    "query($id: ID!) {{ node(id: $id) {{ ... on EvidencePack {{ {PACK} }} }} }}"
                ),
                json!({"id": id}),
            )
            .await["node"]
            .clone()
    }

    /// Waits (bounded) for the pack to leave QUEUED/BUILDING.
    async fn wait_pack(&self, token: &str, id: &str) -> Value {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let pack = self.pack(token, id).await;
            if matches!(pack["status"].as_str(), Some("READY" | "FAILED")) {
                return pack;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "pack not built: {pack}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Creates a pack of `tenants` as `token` and waits until it is READY.
    async fn ready_pack(&self, token: &str, tenants: &[&str]) -> Value {
        let created = self.create(token, tenants).await;
        assert!(created.get("errors").is_none(), "{created}");
        let id = created["data"]["createEvidencePack"]["evidencePack"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let pack = self.wait_pack(token, &id).await;
        assert_eq!(pack["status"], "READY", "{pack}");
        pack
    }

    async fn download(&self, token: Option<&str>, path: &str) -> (u16, Vec<u8>) {
        let mut req = self.app.http.get(self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }
}

fn download_path(id: &str) -> String {
    format!("/evidence-packs/{id}/download")
}

/// Every entry of a ZIP, by path.
fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(name, data);
    }
    out
}

/// The same entries, zipped again after `change` touched one of them.
fn rezip(
    entries: &BTreeMap<String, Vec<u8>>,
    path: &str,
    change: impl Fn(&mut Vec<u8>),
) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        let mut data = data.clone();
        if name == path {
            change(&mut data);
        }
        w.start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(&data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn json_of(entries: &BTreeMap<String, Vec<u8>>, path: &str) -> Value {
    serde_json::from_slice(
        entries
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the pack")),
    )
    .unwrap()
}

fn save(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

async fn current_key(app: &TestApp, token: &str) -> String {
    let keys = app
        .gql_ok(
            token,
            "{ evidenceSigningKeys { id algorithm publicKey current } }",
            json!({}),
        )
        .await;
    let keys = keys["evidenceSigningKeys"].as_array().unwrap().clone();
    let current: Vec<&Value> = keys.iter().filter(|k| k["current"] == true).collect();
    assert_eq!(current.len(), 1, "{keys:?}");
    assert_eq!(current[0]["algorithm"], "Ed25519");
    current[0]["publicKey"].as_str().unwrap().to_string()
}

async fn verify_cli(app: &TestApp, file: &Path, key: Option<&str>) -> (i32, String) {
    let mut args = vec!["evidence", "verify", file.to_str().unwrap()];
    if let Some(k) = key {
        args.extend(["--public-key", k]);
    }
    let (code, out, err) = run_cli(&app.db.url, &args).await;
    (code, format!("{out}{err}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_gets_a_pack_whose_parts_match_the_api_and_that_verifies_offline() {
    // Arrange: drift, an approved exception, and a subscription on a server whose build
    // runs on a second process.
    let f = fixture().await;
    let exception = f.accept_risk().await;
    let auditor = f.token("aud");
    let created = f.create(&auditor, &[&f.target, &f.reference]).await;
    assert!(created.get("errors").is_none(), "{created}");
    let pack_id = created["data"]["createEvidencePack"]["evidencePack"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        created["data"]["createEvidencePack"]["evidencePack"]["status"],
        "QUEUED"
    );
    let run = created["data"]["createEvidencePack"]["operationRun"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ws = WsClient::connect_with_token(&f.app, "graphql-transport-ws", &auditor).await;
    ws.subscribe(
        "p",
        "subscription($id: ID!) { operationRunProgress(id: $id) { kind status processed total } }",
        json!({"id": run}),
    )
    .await;

    // Act: the progress streams until the run ends.
    let mut states = Vec::new();
    loop {
        let msg = ws.next().await.expect("socket closed");
        if msg["type"] == "complete" {
            break;
        }
        assert_eq!(msg["type"], "next", "{msg}");
        states.push(msg["payload"]["data"]["operationRunProgress"].clone());
    }
    let pack = f.wait_pack(&auditor, &pack_id).await;

    // Assert: progress and the pack.
    assert!(states.len() >= 2, "{states:?}");
    assert!(states.iter().all(|s| s["kind"] == "EVIDENCE_PACK_BUILD"));
    let last = states.last().unwrap();
    assert_eq!(last["status"], "SUCCEEDED", "{states:?}");
    assert!(last["total"].as_i64().unwrap() > 0);
    assert_eq!(last["processed"], last["total"]);
    let processed: Vec<i64> = states
        .iter()
        .map(|s| s["processed"].as_i64().unwrap())
        .collect();
    assert!(processed.windows(2).all(|w| w[0] <= w[1]), "{processed:?}");
    assert_eq!(pack["status"], "READY", "{pack}");
    assert_eq!(pack["createdBy"]["email"], "aud@msp.test");
    assert_eq!(pack["operationRun"]["status"], "SUCCEEDED");

    // The download: bearer token, bytes match sizeBytes and sha256.
    let (status, bytes) = f.download(Some(&auditor), &download_path(&pack_id)).await;
    assert_eq!(status, 200);
    assert_eq!(bytes.len() as f64, pack["sizeBytes"].as_f64().unwrap());
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        pack["sha256"].as_str().unwrap()
    );
    let entries = unzip(&bytes);

    // manifest.json: equal to the API's, every file listed with size and digest.
    let manifest = json_of(&entries, "manifest.json");
    assert_eq!(manifest, pack["manifest"]);
    let listed: BTreeSet<String> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect();
    let present: BTreeSet<String> = entries
        .keys()
        .filter(|k| *k != "manifest.json")
        .cloned()
        .collect();
    assert_eq!(listed, present);
    for file in manifest["files"].as_array().unwrap() {
        let data = &entries[file["path"].as_str().unwrap()];
        assert_eq!(file["size"], data.len());
        assert_eq!(
            file["sha256"].as_str().unwrap(),
            hex::encode(sha2::Sha256::digest(data))
        );
    }
    assert_eq!(manifest["pack"]["id"], pack_id);
    assert_eq!(manifest["pack"]["title"], "Q4 2026 audit");
    assert_eq!(manifest["pack"]["createdBy"], "aud@msp.test");
    assert_eq!(manifest["signature"]["algorithm"], "Ed25519");
    assert_eq!(manifest["signature"]["keyId"], pack["signingKeyId"]);
    let key = current_key(&f.app, &auditor).await;
    assert_eq!(manifest["signature"]["publicKey"], key);
    for part in [
        "permission-posture.json",
        "findings-summary.json",
        "findings.csv",
        "exceptions-register.json",
        "baseline-governance.json",
        "audit-excerpt.json",
        "index.html",
    ] {
        assert!(entries.contains_key(part), "{part} missing");
    }

    // review-pack/: each tenant's inventory equals Tenant.policies.
    for tenant in [&f.target, &f.reference] {
        let api = f
            .app
            .gql_ok(
                &auditor,
                "query($id: ID!) { tenant(id: $id) { displayName policies(first: 100) { totalCount edges { node { id displayName lifecycleState payloadHash settingCount settings { path value } } } } } }",
                json!({"id": tenant}),
            )
            .await["tenant"]
            .clone();
        let name = api["displayName"].as_str().unwrap();
        let (_, uuid) = tenantatlas::api::node::parse_global_id(tenant).unwrap();
        let folder = format!("review-pack/{name}_{uuid}");
        let inventory = json_of(&entries, &format!("{folder}/inventory.json"));
        assert_eq!(inventory["tenant"]["id"], *tenant);
        assert_eq!(inventory["policyCount"], api["policies"]["totalCount"]);
        let csv = String::from_utf8(entries[&format!("{folder}/settings.csv")].clone()).unwrap();
        let mut settings_in_api = 0;
        for edge in api["policies"]["edges"].as_array().unwrap() {
            let p = &edge["node"];
            let listed = inventory["policies"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["id"] == p["id"])
                .unwrap_or_else(|| panic!("{} missing from the inventory", p["id"]));
            assert_eq!(listed["payloadHash"], p["payloadHash"]);
            assert_eq!(listed["ghost"], p["lifecycleState"] == "DELETED");
            let file = json_of(
                &entries,
                &format!("{folder}/{}", listed["file"].as_str().unwrap()),
            );
            assert_eq!(file["id"], p["id"]);
            settings_in_api += p["settings"].as_array().unwrap().len();
        }
        // One header line, then one line per flattened setting (no value here spans lines).
        assert_eq!(csv.lines().count(), settings_in_api + 1, "{csv}");
    }
    let target_csv = entries
        .iter()
        .find(|(k, _)| k.starts_with("review-pack/Target_") && k.ends_with("settings.csv"))
        .map(|(_, v)| String::from_utf8(v.clone()).unwrap())
        .unwrap();
    assert!(
        target_csv.contains(",passwordMinimumLength,,integer,4"),
        "{target_csv}"
    );

    // findings-summary.json and findings.csv equal the API's findings.
    let api_findings = f
        .app
        .gql_ok(
            &auditor,
            "query($id: ID!) { workspace(id: $id) { findings(first: 100) { edges { node { id status severity settingPath expectedValue actualValue } } } } }",
            json!({"id": f.ws}),
        )
        .await["workspace"]["findings"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect::<Vec<_>>();
    assert_eq!(api_findings.len(), 1);
    let api_finding = &api_findings[0];
    assert_eq!(api_finding["status"], "RISK_ACCEPTED");
    let summary = json_of(&entries, "findings-summary.json");
    assert_eq!(summary["counts"]["byStatus"]["RISK_ACCEPTED"], 1);
    let accepted = summary["riskAcceptedFindings"].as_array().unwrap();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0]["id"], api_finding["id"]);
    assert_eq!(accepted[0]["expectedValue"], api_finding["expectedValue"]);
    assert_eq!(accepted[0]["actualValue"], api_finding["actualValue"]);
    assert_eq!(accepted[0]["settingPath"], api_finding["settingPath"]);
    let findings_csv = String::from_utf8(entries["findings.csv"].clone()).unwrap();
    assert_eq!(findings_csv.lines().count(), 2, "{findings_csv}");
    assert!(findings_csv.contains(api_finding["id"].as_str().unwrap()));
    assert!(
        findings_csv.contains(",12,4,"),
        "expected 12, actual 4: {findings_csv}"
    );

    // exceptions-register.json: who accepted it, why, until when, and its history.
    let api_exception = f
        .app
        .gql_ok(
            &auditor,
            "query($id: ID!) { node(id: $id) { ... on FindingException { id status justification expiresAt requestedBy { email } decidedBy { email } history { action actor } } } }",
            json!({"id": exception}),
        )
        .await["node"]
        .clone();
    let register = json_of(&entries, "exceptions-register.json");
    assert_eq!(register["counts"]["active"], 1);
    let listed = &register["exceptions"][0];
    assert_eq!(listed["id"], api_exception["id"]);
    assert_eq!(listed["sections"], json!(["active"]));
    assert_eq!(listed["status"], "APPROVED");
    assert_eq!(listed["justification"], api_exception["justification"]);
    assert_eq!(listed["requestedBy"]["email"], "op@msp.test");
    assert_eq!(listed["decidedBy"]["email"], "mgr@msp.test");
    assert_eq!(listed["ticketReference"], "PSA-4711");
    let actions = |h: &Value| -> Vec<Value> {
        h.as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].clone())
            .collect()
    };
    assert_eq!(
        actions(&listed["history"]),
        actions(&api_exception["history"])
    );

    // baseline-governance.json: the baseline, its assignment and the scores.
    let api_scores = f
        .app
        .gql_ok(
            &auditor,
            "query($id: ID!, $t: ID!) { workspace(id: $id) { baselines { edges { node { id name currentVersion } } } } tenant(id: $t) { complianceScore { score } } }",
            json!({"id": f.ws, "t": f.target}),
        )
        .await;
    let governance = json_of(&entries, "baseline-governance.json");
    let baseline = &governance["baselines"][0];
    assert_eq!(
        baseline["id"],
        api_scores["workspace"]["baselines"]["edges"][0]["node"]["id"]
    );
    assert_eq!(baseline["assignments"][0]["tenant"]["id"], f.target);
    let target_score = governance["compliance"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tenant"]["id"] == f.target)
        .unwrap();
    assert_eq!(
        target_score["complianceScore"],
        api_scores["tenant"]["complianceScore"]["score"]
    );
    assert!(!target_score["trend"].as_array().unwrap().is_empty());

    // audit-excerpt.json: a contiguous piece of the chain between its two heads.
    let audit = json_of(&entries, "audit-excerpt.json");
    let events = audit["events"].as_array().unwrap();
    assert_eq!(audit["eventCount"], events.len());
    assert!(events.iter().any(|e| e["action"] == "exception.approve"));
    assert!(events.iter().any(|e| e["action"] == "evidence_pack.create"));
    assert_eq!(events[0]["prevHash"], audit["startHead"]["hash"]);
    assert_eq!(events.last().unwrap()["hash"], audit["endHead"]["hash"]);
    // Every hash recomputes offline from the excerpt alone.
    for e in events {
        let event = tenantatlas::domain::audit::ChainedEvent {
            chain: audit["chain"].as_str().unwrap().to_string(),
            seq: e["seq"].as_i64().unwrap(),
            actor: e["actor"].as_str().unwrap().to_string(),
            action: e["action"].as_str().unwrap().to_string(),
            target_type: e["targetType"].as_str().unwrap().to_string(),
            target_id: e["targetId"].as_str().unwrap().to_string(),
            before: Some(e["before"].clone()).filter(|v| !v.is_null()),
            after: Some(e["after"].clone()).filter(|v| !v.is_null()),
            occurred_at: e["occurredAt"].as_str().unwrap().parse().unwrap(),
        };
        assert_eq!(
            event.hash(e["prevHash"].as_str().unwrap()),
            e["hash"].as_str().unwrap(),
            "{e}"
        );
    }
    for pair in events.windows(2) {
        assert_eq!(pair[1]["prevHash"], pair[0]["hash"]);
        assert_eq!(
            pair[1]["seq"].as_i64().unwrap(),
            pair[0]["seq"].as_i64().unwrap() + 1
        );
    }

    // permission-posture.json: export-directory connections are not applicable, with why.
    let posture = json_of(&entries, "permission-posture.json");
    for t in posture["tenants"].as_array().unwrap() {
        assert_eq!(t["applicable"], false);
        assert_eq!(t["status"], "not applicable, export-directory connection");
        assert!(t["requiredPermissions"]
            .as_array()
            .unwrap()
            .contains(&json!("DeviceManagementConfiguration.Read.All")));
    }

    // index.html: readable and self-contained.
    let html = String::from_utf8(entries["index.html"].clone()).unwrap();
    assert!(html.contains("Q4 2026 audit"));
    assert!(html.contains("Target") && html.contains("Reference"));
    assert!(html.contains(&key));
    for external in ["http://", "https://", "<script", "src=", "<link"] {
        assert!(!html.contains(external), "index.html holds {external}");
    }

    // Offline verification with the CLI; one changed byte of a file or of the manifest fails.
    let dir = TempDir::new("tenantatlas-packs");
    let good = save(&dir.0, "pack.zip", &bytes);
    let (code, out) = verify_cli(&f.app, &good, Some(&key)).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK"), "{out}");
    let tampered_file = save(
        &dir.0,
        "file.zip",
        &rezip(&entries, "findings.csv", |d| {
            let i = d.len() - 3;
            d[i] ^= 0x01;
        }),
    );
    let (code, out) = verify_cli(&f.app, &tampered_file, Some(&key)).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("findings.csv"), "{out}");
    let tampered_manifest = save(
        &dir.0,
        "manifest.zip",
        &rezip(&entries, "manifest.json", |d| {
            let text = String::from_utf8(d.clone()).unwrap();
            *d = text
                .replacen("Q4 2026 audit", "Q4 2026 audiT", 1)
                .into_bytes();
        }),
    );
    let (code, out) = verify_cli(&f.app, &tampered_manifest, Some(&key)).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("manifest.json"), "{out}");
    // A byte flipped in the archive itself (not re-zipped) fails too.
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 3;
    flipped[middle] ^= 0xff;
    let (code, out) = verify_cli(&f.app, &save(&dir.0, "flipped.zip", &flipped), Some(&key)).await;
    assert_eq!(code, 1, "{out}");
    // Another key does not verify a genuine pack.
    let other = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, [7u8; 32]);
    let (code, out) = verify_cli(&f.app, &good, Some(&other)).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("manifest.json"), "{out}");
    let (code, out) = verify_cli(&f.app, &good, Some("not-a-key")).await;
    assert_eq!(code, 2, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_need_the_capability_or_a_valid_link_and_deletion_is_audited() {
    let f = fixture().await;
    let auditor = f.token("aud");
    let readonly = f.token("ro");

    // Readonly may see packs but not create or download them.
    let refused = f.create(&readonly, &[&f.target]).await;
    assert_eq!(error_code(&refused), "FORBIDDEN", "{refused}");
    let pack = f.ready_pack(&auditor, &[&f.target]).await;
    let id = pack["id"].as_str().unwrap().to_string();
    let as_readonly = f.pack(&readonly, &id).await;
    assert_eq!(as_readonly["status"], "READY");
    assert!(as_readonly["downloadUrl"].is_null(), "{as_readonly}");
    assert_eq!(
        f.download(Some(&readonly), &download_path(&id)).await.0,
        403
    );
    assert_eq!(f.download(None, &download_path(&id)).await.0, 401);
    assert_eq!(
        f.download(Some("garbage"), &download_path(&id)).await.0,
        401
    );
    let ghost = tenantatlas::api::node::to_global_id(
        tenantatlas::api::node::NodeType::EvidencePack,
        uuid::Uuid::new_v4(),
    )
    .0;
    assert_eq!(
        f.download(Some(&auditor), &download_path(&ghost)).await.0,
        404
    );
    assert_eq!(
        f.download(Some(&auditor), &download_path("nonsense"))
            .await
            .0,
        404
    );
    // A stranger learns nothing.
    let stranger = f.app.token("stranger@elsewhere.test");
    assert_eq!(
        f.download(Some(&stranger), &download_path(&id)).await.0,
        404
    );
    assert!(f.pack(&stranger, &id).await.is_null());

    // The signed link works without a token; a changed or expired one is refused alike.
    let url = pack["downloadUrl"].as_str().unwrap().to_string();
    let (status, bytes) = f.download(None, &url).await;
    assert_eq!(status, 200);
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&bytes)),
        pack["sha256"].as_str().unwrap()
    );
    let (_, uuid) = tenantatlas::api::node::parse_global_id(&id).unwrap();
    let auditor_id = {
        let mut conn = f.app.ctx.db.conn().await.unwrap();
        tenantatlas::store::users::find_user_by_email(&mut conn, "aud@msp.test")
            .await
            .unwrap()
            .unwrap()
            .id
    };
    assert!(url.contains(&format!("by={auditor_id}")), "{url}");
    // A link stops working when its user loses the capability.
    f.app
        .grant(&f.admin, &f.ws, "aud2@msp.test", "AUDITOR")
        .await;
    let revoked_link = f.pack(&f.app.token("aud2@msp.test"), &id).await["downloadUrl"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(f.download(None, &revoked_link).await.0, 200);
    f.app
        .gql_ok(
            &f.admin,
            "mutation($i: RevokeRoleInput!) { revokeRole(input: $i) { role } }",
            json!({"i": {"workspaceId": f.ws, "userId": "aud2@msp.test", "role": "AUDITOR"}}),
        )
        .await;
    let expired = format!(
        "{}?{}",
        download_path(&id),
        f.app
            .ctx
            .evidence
            .urls
            .sign(uuid, auditor_id, Utc::now() - Duration::seconds(1))
    );
    let other_user = url.replace(&auditor_id.to_string(), &uuid::Uuid::new_v4().to_string());
    let bad_sig = format!("{}0", url);
    let other_pack = url.replace(&id, &ghost);
    let no_sig = url.split("&signature=").next().unwrap().to_string();
    let mut answers = BTreeSet::new();
    for link in [
        &expired,
        &bad_sig,
        &other_pack,
        &no_sig,
        &other_user,
        &revoked_link,
    ] {
        let (status, body) = f.download(None, link).await;
        answers.insert((status, body));
    }
    assert_eq!(answers.len(), 1, "every bad link gets the same answer");
    assert_eq!(answers.iter().next().unwrap().0, 403);

    // A READY pack never changes, even by direct SQL.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = f.app.db.connect().await;
        let changed = diesel::sql_query("UPDATE evidence_packs SET title = 'forged'")
            .execute(&mut conn)
            .await;
        assert!(changed.is_err(), "a READY pack was changed");
    }

    // Deleting needs its own capability; the owner's deletion is audited and final.
    let input = json!({"i": {"evidencePackId": id}});
    let mutation = "mutation($i: DeleteEvidencePackInput!) { deleteEvidencePack(input: $i) { deletedEvidencePackId } }";
    for who in ["op", "mgr", "aud", "ro"] {
        let r = f
            .app
            .gql(Some(&f.token(who)), mutation, input.clone())
            .await;
        assert_eq!(error_code(&r), "FORBIDDEN", "{who}: {r}");
    }
    let deleted = f.app.gql_ok(&f.token("own"), mutation, input.clone()).await;
    assert_eq!(deleted["deleteEvidencePack"]["deletedEvidencePackId"], id);
    assert_eq!(f.download(Some(&auditor), &download_path(&id)).await.0, 404);
    assert_eq!(f.download(None, &url).await.0, 404);
    let stored = f
        .app
        .import_root
        .0
        .join(".data/evidence-packs")
        .join(workspace_uuid(&f.ws).0.to_string())
        .join(format!("{uuid}.zip"));
    assert!(!stored.exists(), "the pack's file is gone");
    let audit = f
        .app
        .gql_ok(
            &f.admin,
            "query($id: ID!) { workspace(id: $id) { auditEvents(first: 100) { edges { node { action actor before after } } } } }",
            json!({"id": f.ws}),
        )
        .await;
    let events = audit["workspace"]["auditEvents"]["edges"]
        .as_array()
        .unwrap();
    let deletion = events
        .iter()
        .find(|e| e["node"]["action"] == "evidence_pack.delete")
        .expect("deletion audited");
    assert_eq!(deletion["node"]["actor"], "user:own@msp.test");
    assert_eq!(deletion["node"]["before"]["sha256"], pack["sha256"]);
    assert!(events
        .iter()
        .any(|e| e["node"]["action"] == "evidence_pack.download"
            && e["node"]["actor"] == "user:aud@msp.test"
            && e["node"]["after"]["via"] == "signed link"));
    let again = f.app.gql(Some(&f.token("own")), mutation, input).await;
    assert_eq!(error_code(&again), "NOT_FOUND", "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_pack_requests_are_refused_with_their_codes_and_create_nothing() {
    let f = fixture().await;
    let owner = f.token("own");
    let other_ws = f
        .app
        .create_workspace(&f.admin, "Elsewhere", "elsewhere", "TEST")
        .await;
    let foreign = f
        .app
        .create_tenant(&f.admin, &other_ws, "Foreign", &guid())
        .await;
    let now = Utc::now();
    let base = json!({"workspaceId": f.ws, "title": "Audit", "tenantIds": [f.target],
                      "periodStart": (now - Duration::days(30)).to_rfc3339(),
                      "periodEnd": now.to_rfc3339()});
    let with = |k: &str, v: Value| {
        let mut i = base.clone();
        i[k] = v;
        i
    };
    let cases = [
        (with("title", json!("   ")), "BAD_USER_INPUT", Some("title")),
        (
            with("title", json!("x".repeat(201))),
            "BAD_USER_INPUT",
            Some("title"),
        ),
        (
            with("periodEnd", json!((now - Duration::days(31)).to_rfc3339())),
            "BAD_USER_INPUT",
            Some("periodEnd"),
        ),
        (
            with("periodStart", json!((now + Duration::days(1)).to_rfc3339())),
            "BAD_USER_INPUT",
            Some("periodStart"),
        ),
        (
            with(
                "periodStart",
                json!((now - Duration::days(1200)).to_rfc3339()),
            ),
            "BAD_USER_INPUT",
            Some("periodStart"),
        ),
        (
            with("periodStart", json!("0001-01-01T00:00:00Z")),
            "BAD_USER_INPUT",
            Some("periodStart"),
        ),
        (
            with("tenantIds", json!([])),
            "BAD_USER_INPUT",
            Some("tenantIds"),
        ),
        (
            with("tenantIds", json!(["bogus"])),
            "BAD_USER_INPUT",
            Some("tenantIds"),
        ),
        (with("tenantIds", json!([foreign])), "NOT_FOUND", None),
        (with("workspaceId", json!(other_ws)), "NOT_FOUND", None),
    ];
    for (input, code, field) in cases {
        let r = f
            .app
            .gql(
                Some(&owner),
                "mutation($i: CreateEvidencePackInput!) { createEvidencePack(input: $i) { evidencePack { id } } }",
                json!({"i": input}),
            )
            .await;
        assert_eq!(error_code(&r), code, "{input}: {r}");
        if let Some(field) = field {
            assert_eq!(r["errors"][0]["extensions"]["field"], field, "{r}");
        }
    }
    let unauthenticated = f
        .app
        .gql(
            None,
            "mutation($i: CreateEvidencePackInput!) { createEvidencePack(input: $i) { evidencePack { id } } }",
            json!({"i": base}),
        )
        .await;
    assert_eq!(error_code(&unauthenticated), "UNAUTHENTICATED");
    let listed = f
        .app
        .gql_ok(
            &owner,
            "query($id: ID!) { workspace(id: $id) { evidencePacks { totalCount } operationRuns(filter: {kind: EVIDENCE_PACK_BUILD}) { totalCount } } }",
            json!({"id": f.ws}),
        )
        .await;
    assert_eq!(listed["workspace"]["evidencePacks"]["totalCount"], 0);
    assert_eq!(listed["workspace"]["operationRuns"]["totalCount"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_secret_reaches_a_pack() {
    let app = TestApp::spawn().await;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets");
    copy_tree(
        &fixtures.join("export"),
        &app.import_root.0.join("inventory").join("secrets"),
    );
    let (admin, ws, tenant) = app.tenant_with_export("secrets").await;
    let run = app.sync(&admin, &tenant, &[]).await;
    assert_eq!(run["status"], "SUCCEEDED", "{run}");
    let created = app
        .gql_ok(
            &admin,
            "mutation($i: CreateEvidencePackInput!) { createEvidencePack(input: $i) { evidencePack { id } } }",
            json!({"i": {"workspaceId": ws, "title": "Secrets", "tenantIds": [tenant],
                         "periodStart": (Utc::now() - Duration::days(1)).to_rfc3339(),
                         "periodEnd": (Utc::now() + Duration::minutes(5)).to_rfc3339()}}),
        )
        .await;
    let id = created["createEvidencePack"]["evidencePack"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let p = app
            .gql_ok(
                &admin,
                "query($id: ID!) { node(id: $id) { ... on EvidencePack { status error } } }",
                json!({"id": id}),
            )
            .await;
        if p["node"]["status"] == "READY" {
            break;
        }
        assert_ne!(p["node"]["status"], "FAILED", "{p}");
        assert!(std::time::Instant::now() < deadline, "pack not built");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let resp = app
        .http
        .get(app.url(&download_path(&id)))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let entries = unzip(&resp.bytes().await.unwrap());
    let all: String = entries
        .values()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        all.contains("\"settingCount\""),
        "the pack holds the inventory"
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(fixtures.join("manifest.json")).unwrap()).unwrap();
    let secrets = manifest["secrets"].as_array().unwrap();
    assert!(!secrets.is_empty());
    for s in secrets {
        let value = s["value"].as_str().unwrap();
        assert!(!all.contains(value), "the pack holds the secret {value}");
        if s["encoded"] == true {
            let file = read_json(&fixtures.join(s["file"].as_str().unwrap()));
            let encoded = file.pointer(s["field"].as_str().unwrap()).unwrap();
            let encoded = encoded.as_str().unwrap();
            assert!(!all.contains(encoded), "the pack holds an encoded secret");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_of_real_corpus_tenants_lists_every_policy_and_finding_and_verifies() {
    let Some(corpus) = corpus_dir() else { return };
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let ws = app
        .create_workspace(&admin, "Corpus", "corpus", "PRODUCTION")
        .await;
    let root = app.import_root.0.join("corpus");
    copy_tree(&corpus, &root.join("gold"));
    copy_tree(&corpus, &root.join("drifted"));
    // The drifted tenant: one compliance value changed.
    let compliance = std::fs::read_dir(root.join("drifted"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains("Compliance"))
        .map(|e| e.path())
        .expect("the corpus has a compliance folder");
    let file = std::fs::read_dir(&compliance)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| read_json(p).get("passwordMinimumLength").is_some())
        .expect("a compliance policy with passwordMinimumLength");
    let mut v = read_json(&file);
    v["passwordMinimumLength"] = json!(4);
    write_json(&file, &v);
    let gold = tenant_at(&app, &admin, &ws, "Gold", "gold").await;
    let drifted = tenant_at(&app, &admin, &ws, "Drifted", "drifted").await;
    assert_eq!(app.sync(&admin, &gold, &[]).await["status"], "SUCCEEDED");
    assert_eq!(app.sync(&admin, &drifted, &[]).await["status"], "SUCCEEDED");
    let baseline = app
        .gql_ok(
            &admin,
            "mutation($i: CreateBaselineInput!) { createBaseline(input: $i) { baseline { id } } }",
            json!({"i": {"workspaceId": ws, "name": "OIB", "sourceTenantId": gold}}),
        )
        .await["createBaseline"]["baseline"]["id"]
        .clone();
    app.gql_ok(
        &admin,
        "mutation($i: BaselineTenantsInput!) { assignBaseline(input: $i) { baseline { id } } }",
        json!({"i": {"baselineId": baseline, "tenantIds": [drifted]}}),
    )
    .await;
    wait_evaluations(&app, &admin, &ws, &drifted, 1).await;

    let created = app
        .gql_ok(
            &admin,
            "mutation($i: CreateEvidencePackInput!) { createEvidencePack(input: $i) { evidencePack { id } } }",
            json!({"i": {"workspaceId": ws, "title": "Corpus", "tenantIds": [gold, drifted],
                         "periodStart": (Utc::now() - Duration::days(1)).to_rfc3339(),
                         "periodEnd": (Utc::now() + Duration::minutes(5)).to_rfc3339()}}),
        )
        .await;
    let id = created["createEvidencePack"]["evidencePack"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = std::time::Instant::now() + TIMEOUT;
    let pack = loop {
        let p = app
            .gql_ok(&admin, "query($id: ID!) { node(id: $id) { ... on EvidencePack { status error downloadUrl } } }", json!({"id": id}))
            .await["node"]
            .clone();
        if p["status"] == "READY" {
            break p;
        }
        assert_ne!(p["status"], "FAILED", "{p}");
        assert!(std::time::Instant::now() < deadline, "pack not built");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let bytes = app
        .http
        .get(app.url(pack["downloadUrl"].as_str().unwrap()))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let entries = unzip(&bytes);
    for tenant in [&gold, &drifted] {
        let (_, uuid) = tenantatlas::api::node::parse_global_id(tenant).unwrap();
        let inventory = entries
            .iter()
            .find(|(k, _)| k.ends_with(&format!("_{uuid}/inventory.json")))
            .map(|(_, v)| serde_json::from_slice::<Value>(v).unwrap())
            .unwrap();
        assert_eq!(inventory["policyCount"], 70);
        let settings: i64 = inventory["policies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["settingCount"].as_i64().unwrap())
            .sum();
        let csv = entries
            .iter()
            .find(|(k, _)| k.ends_with(&format!("_{uuid}/settings.csv")))
            .map(|(_, v)| v.clone())
            .unwrap();
        let rows = csv::count_records(&csv);
        assert_eq!(
            rows as i64, settings,
            "one CSV record per flattened setting"
        );
    }
    let api = app
        .gql_ok(
            &admin,
            "query($id: ID!) { tenant(id: $id) { findings(first: 100) { totalCount edges { node { id expectedValue actualValue } } } } }",
            json!({"id": drifted}),
        )
        .await;
    let summary: Value = serde_json::from_slice(&entries["findings-summary.json"]).unwrap();
    let open = summary["openFindings"].as_array().unwrap();
    assert_eq!(
        open.len() as i64,
        api["tenant"]["findings"]["totalCount"].as_i64().unwrap()
    );
    assert!(!open.is_empty());
    for node in api["tenant"]["findings"]["edges"].as_array().unwrap() {
        let f = open.iter().find(|o| o["id"] == node["node"]["id"]).unwrap();
        assert_eq!(f["expectedValue"], node["node"]["expectedValue"]);
        assert_eq!(f["actualValue"], node["node"]["actualValue"]);
    }
    let dir = TempDir::new("tenantatlas-packs");
    let path = save(&dir.0, "corpus.zip", &bytes);
    let key = current_key(&app, &admin).await;
    let (code, out) = verify_cli(&app, &path, Some(&key)).await;
    assert_eq!(code, 0, "{out}");
}

/// Just enough CSV reading to count records (quoted fields may hold line breaks).
mod csv {
    pub fn count_records(bytes: &[u8]) -> usize {
        let mut records: usize = 0;
        let mut quoted = false;
        for &b in bytes {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => records += 1,
                _ => {}
            }
        }
        // Minus the header.
        records.saturating_sub(1)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_cancelled_before_it_starts_fails_its_pack_which_can_then_be_deleted() {
    let app = TestApp::spawn_without_workers().await;
    let admin = app.admin_token().await;
    let ws = app.create_workspace(&admin, "Quiet", "quiet", "TEST").await;
    let tenant = app.create_tenant(&admin, &ws, "Quiet HQ", &guid()).await;
    let created = app
        .gql_ok(
            &admin,
            "mutation($i: CreateEvidencePackInput!) { createEvidencePack(input: $i) { evidencePack { id status } operationRun { id } } }",
            json!({"i": {"workspaceId": ws, "title": "Never built", "tenantIds": [tenant],
                         "periodStart": (Utc::now() - Duration::days(1)).to_rfc3339(),
                         "periodEnd": Utc::now().to_rfc3339()}}),
        )
        .await;
    let pack = created["createEvidencePack"]["evidencePack"]["id"].clone();
    let run = created["createEvidencePack"]["operationRun"]["id"].clone();
    let delete = "mutation($i: DeleteEvidencePackInput!) { deleteEvidencePack(input: $i) { deletedEvidencePackId } }";
    let queued = app
        .gql(Some(&admin), delete, json!({"i": {"evidencePackId": pack}}))
        .await;
    assert_eq!(error_code(&queued), "CONFLICT", "{queued}");
    app.gql_ok(
        &admin,
        "mutation($i: CancelOperationRunInput!) { cancelOperationRun(input: $i) { operationRun { status } } }",
        json!({"i": {"operationRunId": run}}),
    )
    .await;
    let after = app
        .gql_ok(
            &admin,
            "query($id: ID!) { node(id: $id) { ... on EvidencePack { status error downloadUrl } } }",
            json!({"id": pack}),
        )
        .await;
    assert_eq!(after["node"]["status"], "FAILED", "{after}");
    assert_eq!(after["node"]["error"], "the build was cancelled");
    assert!(after["node"]["downloadUrl"].is_null());
    // Only a build makes a pack READY, even by direct SQL.
    {
        use diesel_async::RunQueryDsl;
        let mut conn = app.db.connect().await;
        let forged = diesel::sql_query(
            "UPDATE evidence_packs SET status = 'READY', sha256 = 'forged' WHERE status = 'FAILED'",
        )
        .execute(&mut conn)
        .await;
        assert!(forged.is_err(), "a FAILED pack was made READY");
    }
    app.gql_ok(&admin, delete, json!({"i": {"evidencePackId": pack}}))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_build_per_workspace_runs_at_a_time_and_a_worker_without_the_lease_stores_nothing() {
    use tenantatlas::store;
    let app = TestApp::spawn_without_workers().await;
    let admin = app.admin_token().await;
    let ws = app.create_workspace(&admin, "Busy", "busy", "TEST").await;
    let tenant = app.create_tenant(&admin, &ws, "Busy HQ", &guid()).await;
    let mut packs = Vec::new();
    for title in ["First", "Second"] {
        let created = app
            .gql_ok(
                &admin,
                "mutation($i: CreateEvidencePackInput!) { createEvidencePack(input: $i) { evidencePack { id } } }",
                json!({"i": {"workspaceId": ws, "title": title, "tenantIds": [tenant],
                             "periodStart": (Utc::now() - Duration::days(1)).to_rfc3339(),
                             "periodEnd": Utc::now().to_rfc3339()}}),
            )
            .await;
        packs.push(
            created["createEvidencePack"]["evidencePack"]["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    // The first claim takes one build; the second build of the workspace waits.
    let mut conn = app.ctx.db.conn().await.unwrap();
    let claimed = store::operation_runs::claim_next_run(&mut conn, "w1", 60.0)
        .await
        .unwrap()
        .expect("a build is claimed");
    assert_eq!(claimed.kind, "EVIDENCE_PACK_BUILD");
    assert!(store::operation_runs::claim_next_run(&mut conn, "w2", 60.0)
        .await
        .unwrap()
        .is_none());
    drop(conn);

    // A worker that does not hold the lease builds but stores and records nothing.
    let outcome = tenantatlas::service::evidence::build_evidence_pack(
        &app.ctx,
        &claimed,
        Some("w2"),
        &mut common::NoProgress,
    )
    .await;
    assert!(
        matches!(outcome, Err(tenantatlas::error::AppError::Conflict(ref m)) if m == "lease lost")
    );
    let stored = app.import_root.0.join(".data/evidence-packs");
    let files = std::fs::read_dir(&stored).map(|d| d.count()).unwrap_or(0);
    assert_eq!(files, 0, "nothing stored by a worker without the lease");
    let pack = app
        .gql_ok(&admin, "query($id: ID!) { node(id: $id) { ... on EvidencePack { status operationRun { id } } } }", json!({"id": packs[0]}))
        .await;
    // The claimed run's pack is still being built by its owner.
    let statuses: Vec<String> = {
        let mut out = Vec::new();
        for p in &packs {
            let n = app
                .gql_ok(
                    &admin,
                    "query($id: ID!) { node(id: $id) { ... on EvidencePack { status } } }",
                    json!({"id": p}),
                )
                .await;
            out.push(n["node"]["status"].as_str().unwrap().to_string());
        }
        out
    };
    assert!(
        statuses.contains(&"BUILDING".to_string()),
        "{statuses:?} {pack}"
    );
    assert!(!statuses.contains(&"READY".to_string()), "{statuses:?}");
    assert!(!statuses.contains(&"FAILED".to_string()), "{statuses:?}");

    // The owner finishes it.
    let done = tenantatlas::service::evidence::build_evidence_pack(
        &app.ctx,
        &claimed,
        Some("w1"),
        &mut common::NoProgress,
    )
    .await
    .unwrap();
    assert!(!done.cancelled);
    assert!(done.summary.starts_with("pack READY"), "{}", done.summary);
}
