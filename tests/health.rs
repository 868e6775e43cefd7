//! Liveness, readiness, request ids, the published schema, migrations, and the server
//! process itself (start on an empty database, demo data, graceful stop, no database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_ok_and_readyz_follows_migrations() {
    let app = TestApp::spawn().await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-request-id"));

    // Pretend the latest migration was never applied.
    let mut conn = app.db.connect().await;
    conn.batch_execute("DELETE FROM __diesel_schema_migrations WHERE version = (SELECT max(version) FROM __diesel_schema_migrations)")
        .await
        .unwrap();
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["reason"], "migrations pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_given_request_id_is_echoed_back() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .post(app.url("/graphql"))
        .header("x-request-id", "trace-me-123")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-me-123");
    let r = app.http.get(app.url("/graphql")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text().await.unwrap().contains("graphiql"),
        "GET /graphql serves GraphiQL"
    );
}

#[test]
fn schema_graphql_is_what_the_code_builds() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    let built = tenantatlas::api::schema_sdl();
    assert!(
        committed == built,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_works_for_graphiql() {
    let app = TestApp::spawn().await;
    let q = "query { __schema { queryType { name } types { name kind fields { name args { name type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }";
    let resp = app.gql(None, q, json!({})).await;
    assert!(resp.get("errors").is_none(), "{resp}");
    assert_eq!(resp["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_up_down_and_up_again() {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let db = TestDb::new().await;
    let tables = "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'";
    let mut conn = db.connect().await;
    let up: N = diesel::sql_query(tables)
        .get_result(&mut conn)
        .await
        .unwrap();
    assert!(up.n >= 8);

    let reverted = tenantatlas::db::revert_all_migrations(&db.url)
        .await
        .unwrap();
    assert!(reverted >= 1);
    let down: N = diesel::sql_query(tables)
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(down.n, 0, "down.sql must remove everything up.sql made");

    tenantatlas::db::run_migrations(&db.url).await.unwrap();
    let again: N = diesel::sql_query(tables)
        .get_result(&mut conn)
        .await
        .unwrap();
    assert_eq!(again.n, up.n);
    let rules: N = diesel::sql_query("SELECT count(*) AS n FROM casbin_rule WHERE ptype = 'p'")
        .get_result(&mut conn)
        .await
        .unwrap();
    assert!(rules.n > 0, "the role table is seeded again");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_ready(base: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "server did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_demo_creates_the_database_prints_a_working_token_and_stops_cleanly_on_sigterm() {
    // Arrange: a database that does not exist yet.
    let db = TestDb::unborn();
    let imports = TempDir::new("tenantatlas-imports");
    let port = free_port();
    let mut child = tokio::process::Command::new(bin())
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db.url)
        .env("TENANTATLAS_IMPORT_ROOT", &imports.0)
        .env("TENANTATLAS_DATA_DIR", imports.0.join(".data"))
        .env_remove("TENANTATLAS_JWT_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;

    // The demo banner: read stdout until the token line.
    use tokio::io::AsyncBufReadExt;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut banner = Vec::new();
    let token = tokio::time::timeout(TIMEOUT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            banner.push(line.clone());
            if line.starts_with("eyJ") {
                return line;
            }
        }
        panic!("no token printed");
    })
    .await
    .unwrap();
    assert!(
        banner
            .iter()
            .any(|l| l.contains(&format!("{base}/graphql"))),
        "{banner:?}"
    );

    // Act: the printed token works and sees the demo data.
    let resp: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .json(&json!({"query": "{ workspaces { totalCount edges { node { environment tenants { totalCount } } } } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["data"]["workspaces"]["totalCount"], 2, "{resp}");
    let envs: Vec<&str> = resp["data"]["workspaces"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["environment"].as_str().unwrap())
        .collect();
    assert_ne!(envs[0], envs[1], "two workspaces of different environments");

    // Assert: SIGTERM drains and exits 0.
    let pid = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(TIMEOUT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));

    // Running the demo again is idempotent and the stored secret still verifies the old token.
    let (code, out, err) = run_cli(&db.url, &["migrate"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let port = free_port();
    let mut again = tokio::process::Command::new(bin())
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &db.url)
        .env("TENANTATLAS_IMPORT_ROOT", &imports.0)
        .env("TENANTATLAS_DATA_DIR", imports.0.join(".data"))
        .env_remove("TENANTATLAS_JWT_SECRET")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base).await;
    let resp: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .json(&json!({"query": "{ workspaces { totalCount edges { node { tenants { totalCount } } } } }"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["data"]["workspaces"]["totalCount"], 2, "{resp}");
    assert_eq!(
        resp["data"]["workspaces"]["edges"][1]["node"]["tenants"]["totalCount"],
        2
    );
    std::process::Command::new("kill")
        .args(["-INT", &again.id().unwrap().to_string()])
        .status()
        .unwrap();
    let exit = tokio::time::timeout(TIMEOUT, again.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_postgresql_exits_non_zero_with_one_clear_line() {
    let (code, out, err) = run_cli(
        "postgres://postgres:hunter2@127.0.0.1:1/tenantatlas",
        &["serve", "--listen", "127.0.0.1:0"],
    )
    .await;
    assert_eq!(code, 2, "{out}{err}");
    let lines: Vec<&str> = err.trim().lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains("cannot reach PostgreSQL"), "{err}");
    assert!(
        lines[0].contains("pg_ctlcluster"),
        "says how to start it: {err}"
    );
    assert!(!err.contains("hunter2"), "the password is not printed");
    assert!(!err.contains("panicked"));
}
