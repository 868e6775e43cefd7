//! Test harness: each test gets its own database, cloned from a migrated template, and its
//! own server on a random port, and talks to it over HTTP and WebSocket like a client.
//!
//! Helpers that write the database directly are prefixed `db_`; everything else goes
//! through the public API.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tenantatlas::{
    auth::Principal,
    authz::Access,
    config::Config,
    domain::{ids::WorkspaceId, roles::Role},
    service::{self, roles::Scope, AppContext},
    Application,
};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

/// Secret the test servers sign tokens with.
pub const JWT_SECRET: &str = "integration-test-secret-0123456789abcdef";
/// Every wait in a test is bounded by this.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// Server URL without a database name (`TENANTATLAS_TEST_DATABASE_URL` overrides).
pub fn server_url() -> String {
    std::env::var("TENANTATLAS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
        .trim_end_matches('/')
        .to_string()
}

fn admin_url() -> String {
    format!("{}/postgres", server_url())
}

/// A hash of the migration files: a changed migration gets a fresh template.
fn migrations_fingerprint() -> String {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p);
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.strip_prefix(&root).unwrap().to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap());
    }
    hex::encode(h.finalize())[..16].to_string()
}

/// Creates (once per migration set, safely across concurrent test processes) the
/// migrated template database and returns its name.
async fn template() -> String {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let name = format!("tenantatlas_tpl_{}", migrations_fingerprint());
            let mut admin = AsyncPgConnection::establish(&admin_url())
                .await
                .expect("PostgreSQL must be running for the tests (see README)");
            // One creator at a time, across processes.
            admin
                .batch_execute("SELECT pg_advisory_lock(727274)")
                .await
                .unwrap();
            #[derive(diesel::QueryableByName)]
            struct Ready {
                #[diesel(sql_type = diesel::sql_types::Bool)]
                ready: bool,
            }
            let ready: Vec<Ready> = diesel::sql_query(
                "SELECT datistemplate AS ready FROM pg_database WHERE datname = $1",
            )
            .bind::<diesel::sql_types::Text, _>(&name)
            .load(&mut admin)
            .await
            .unwrap();
            match <[Ready]>::first(&ready) {
                Some(r) if r.ready => {}
                other => {
                    if other.is_some() {
                        // Left half-built by a crashed run.
                        admin
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await
                            .unwrap();
                    }
                    admin
                        .batch_execute(&format!("CREATE DATABASE {name}"))
                        .await
                        .unwrap();
                    let url = format!("{}/{name}", server_url());
                    tenantatlas::db::run_migrations(&url).await.unwrap();
                    admin
                        .batch_execute(&format!("ALTER DATABASE {name} IS_TEMPLATE true"))
                        .await
                        .unwrap();
                }
            }
            admin
                .batch_execute("SELECT pg_advisory_unlock(727274)")
                .await
                .unwrap();
            name
        })
        .await
        .clone()
}

/// A database of this test's own; dropped (forcibly) when the value is dropped.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// A migrated database cloned from the template.
    pub async fn new() -> Self {
        let template = template().await;
        let name = format!("tenantatlas_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = AsyncPgConnection::establish(&admin_url()).await.unwrap();
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY"
            ))
            .await
            .unwrap();
        Self {
            url: format!("{}/{name}", server_url()),
            name,
        }
    }

    /// A name for a database that does not exist yet (dropped at the end if created).
    pub fn unborn() -> Self {
        let name = format!("tenantatlas_test_{}", uuid::Uuid::new_v4().simple());
        Self {
            url: format!("{}/{name}", server_url()),
            name,
        }
    }

    /// A direct connection, for `db_` helpers.
    pub async fn connect(&self) -> AsyncPgConnection {
        AsyncPgConnection::establish(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async context: use a thread with its own small runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = AsyncPgConnection::establish(&admin_url()).await {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A running server on its own database.
pub struct TestApp {
    pub addr: std::net::SocketAddr,
    /// The server's import root (export-directory connections live under it).
    pub import_root: TempDir,
    pub ctx: Arc<AppContext>,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
    // Last: dropped after the server has stopped.
    pub db: TestDb,
}

/// The configuration a test server uses for `url`; its import root is `import_root`.
pub fn test_config_with_root(url: &str, import_root: &Path) -> Config {
    let mut config = Config::new(url);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.jwt.secret = Some(JWT_SECRET.into());
    config.pool_size = 5;
    config.jobs.import_root = import_root.to_path_buf();
    config.data_dir = import_root.join(".data");
    config.jobs.workers = 2;
    config.jobs.lease = Duration::from_secs(2);
    config.jobs.poll_interval = Duration::from_millis(100);
    config.jobs.expiry_check_interval = Duration::from_millis(200);
    config
}

/// The configuration a test server uses for `url` (a throwaway import root).
pub fn test_config(url: &str) -> Config {
    let root = std::env::temp_dir().join(format!(
        "tenantatlas-root-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&root).unwrap();
    test_config_with_root(url, &root)
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> Self {
        let p = std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_on(TestDb::new().await).await
    }

    /// A server without operation-run workers (its statement counter then counts only
    /// what requests run).
    pub async fn spawn_without_workers() -> Self {
        Self::spawn_configured(TestDb::new().await, |c| c.jobs.workers = 0).await
    }

    /// A server on an existing database (e.g. a second process sharing one database).
    pub async fn spawn_on(db: TestDb) -> Self {
        Self::spawn_configured(db, |_| {}).await
    }

    /// A server on `db` with `adjust` applied to its configuration.
    pub async fn spawn_configured(db: TestDb, adjust: impl FnOnce(&mut Config)) -> Self {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
            )
            .with_test_writer()
            .with_ansi(false)
            .try_init();
        let import_root = TempDir::new("tenantatlas-root");
        let mut config = test_config_with_root(&db.url, &import_root.0);
        adjust(&mut config);
        let app = Application::build(config).await.unwrap();
        let addr = app.local_addr().unwrap();
        let ctx = app.context();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            app.run_until(async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        assert!(
            ctx.events.wait_listening(TIMEOUT).await,
            "event listener did not connect"
        );
        Self {
            addr,
            import_root,
            ctx,
            http: reqwest::Client::new(),
            shutdown: Some(tx),
            handle: Some(handle),
            db,
        }
    }

    /// A second server process on the same database.
    pub async fn spawn_sibling(&self) -> (Application, Arc<AppContext>) {
        let app = Application::build(test_config_with_root(&self.db.url, &self.import_root.0))
            .await
            .unwrap();
        let ctx = app.context();
        (app, ctx)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A valid token for `email`.
    pub fn token(&self, email: &str) -> String {
        self.ctx
            .tokens
            .issue(email, Duration::from_secs(3600))
            .unwrap()
    }

    /// POSTs a GraphQL request and returns the whole JSON response.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut req = self
            .http
            .post(self.url("/graphql"))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = tokio::time::timeout(TIMEOUT, req.send())
            .await
            .expect("request timed out")
            .unwrap();
        resp.json().await.unwrap()
    }

    /// Like [`TestApp::gql`], but fails the test on any error and returns `data`.
    pub async fn gql_ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let resp = self.gql(Some(token), query, variables).await;
        assert!(
            resp.get("errors").is_none(),
            "unexpected errors: {}",
            serde_json::to_string_pretty(&resp).unwrap()
        );
        resp["data"].clone()
    }

    /// Grants a role directly through the service layer as the command line would.
    pub async fn db_grant(&self, email: &str, role: Role, workspace: Option<WorkspaceId>) {
        let access = Access::new(Principal::System("test"), self.ctx.authz.clone());
        let scope = workspace.map_or(Scope::Platform, Scope::Workspace);
        service::roles::grant_role(&self.ctx, &access, scope, email, role)
            .await
            .unwrap();
    }

    /// A platform admin's token.
    pub async fn admin_token(&self) -> String {
        let email = "admin@platform.test";
        self.db_grant(email, Role::PlatformAdmin, None).await;
        self.token(email)
    }

    /// Creates a workspace through the API and returns its global id.
    pub async fn create_workspace(&self, admin: &str, name: &str, slug: &str, env: &str) -> String {
        let data = self
            .gql_ok(
                admin,
                "mutation($i: CreateWorkspaceInput!) { createWorkspace(input: $i) { workspace { id } } }",
                json!({"i": {"name": name, "slug": slug, "environment": env}}),
            )
            .await;
        data["createWorkspace"]["workspace"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates a tenant through the API and returns its global id.
    pub async fn create_tenant(
        &self,
        token: &str,
        workspace: &str,
        name: &str,
        entra: &str,
    ) -> String {
        let data = self
            .gql_ok(
                token,
                "mutation($i: CreateTenantInput!) { createTenant(input: $i) { tenant { id } } }",
                json!({"i": {"workspaceId": workspace, "displayName": name, "entraTenantId": entra}}),
            )
            .await;
        data["createTenant"]["tenant"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Grants a workspace role through the API.
    pub async fn grant(&self, token: &str, workspace: &str, email: &str, role: &str) {
        self.gql_ok(
            token,
            "mutation($i: GrantRoleInput!) { grantRole(input: $i) { role } }",
            json!({"i": {"workspaceId": workspace, "userId": email, "role": role}}),
        )
        .await;
    }

    /// Waits until `n` subscriptions are attached to this server's event bus.
    pub async fn wait_for_subscribers(&self, n: usize) {
        let deadline = std::time::Instant::now() + TIMEOUT;
        while self.ctx.events.subscriber_count() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "subscription never attached"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        self.shutdown_now().await;
    }

    async fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(TIMEOUT, h).await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            h.abort();
        }
    }
}

/// The workspace uuid inside a global id.
pub fn workspace_uuid(global: &str) -> WorkspaceId {
    match tenantatlas::api::node::parse_global_id(global) {
        Some((tenantatlas::api::node::NodeType::Workspace, id)) => WorkspaceId(id),
        other => panic!("not a workspace id: {global} ({other:?})"),
    }
}

/// The `extensions.code` of the first error.
#[track_caller]
pub fn error_code(resp: &Value) -> String {
    resp["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {resp}"))
        .to_string()
}

/// A random GUID for `entraTenantId`.
pub fn guid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A GraphQL-over-WebSocket client for either protocol.
pub struct WsClient {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    legacy: bool,
}

impl WsClient {
    /// Connects with `protocol` (`graphql-transport-ws` or `graphql-ws`) and sends
    /// `connection_init` with `payload`; returns the server's first reply.
    pub async fn connect(app: &TestApp, protocol: &str, payload: Value) -> (Self, Value) {
        let mut req = format!("ws://{}/graphql/ws", app.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        let (stream, resp) = tokio::time::timeout(TIMEOUT, tokio_tungstenite::connect_async(req))
            .await
            .expect("websocket connect timed out")
            .unwrap();
        assert_eq!(
            resp.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol)
        );
        let mut client = Self {
            stream,
            legacy: protocol == "graphql-ws",
        };
        client
            .send(json!({"type": "connection_init", "payload": payload}))
            .await;
        let ack = client.next().await.expect("no reply to connection_init");
        (client, ack)
    }

    /// Connects with a bearer token and expects `connection_ack`.
    pub async fn connect_with_token(app: &TestApp, protocol: &str, token: &str) -> Self {
        let (client, ack) = Self::connect(
            app,
            protocol,
            json!({"Authorization": format!("Bearer {token}")}),
        )
        .await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    pub async fn send(&mut self, msg: Value) {
        self.stream
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
    }

    /// Starts a subscription with id `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.legacy { "start" } else { "subscribe" };
        self.send(
            json!({"id": id, "type": kind, "payload": {"query": query, "variables": variables}}),
        )
        .await;
    }

    /// The next protocol message other than keep-alives, or None when the socket closed.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(TIMEOUT, self.stream.next())
                .await
                .expect("timed out waiting for a websocket message")?;
            match msg {
                Ok(Message::Text(t)) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if matches!(v["type"].as_str(), Some("ka") | Some("ping") | Some("pong")) {
                        continue;
                    }
                    return Some(v);
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// The next data message (`next` or legacy `data`) payload.
    pub async fn next_data(&mut self) -> Value {
        let msg = self.next().await.expect("socket closed");
        let data_type = if self.legacy { "data" } else { "next" };
        assert_eq!(msg["type"], data_type, "{msg}");
        msg["payload"].clone()
    }
}

/// Path of the built `tenantatlas` binary.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tenantatlas")
}

/// Runs the CLI against `db` and returns (exit code, stdout, stderr).
pub async fn run_cli(db_url: &str, args: &[&str]) -> (i32, String, String) {
    run_cli_env(db_url, args, &[]).await
}

/// [`run_cli`] with extra environment variables (e.g. `RUST_LOG`).
#[allow(dead_code)]
pub async fn run_cli_env(
    db_url: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let out = tokio::time::timeout(
        TIMEOUT,
        tokio::process::Command::new(bin())
            .args(args)
            .env("DATABASE_URL", db_url)
            .env("TENANTATLAS_JWT_SECRET", JWT_SECRET)
            // Never the project's own ./data (a server started here makes a signing key).
            .env(
                "TENANTATLAS_DATA_DIR",
                std::env::temp_dir().join("tenantatlas-cli-data"),
            )
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .output(),
    )
    .await
    .expect("CLI timed out")
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The real Intune exports (`TENANTATLAS_CORPUS`, else `../shared/corpus/oib-windows`), or
/// `None` with a clear message when they are absent.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("TENANTATLAS_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/oib-windows")
        });
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: the Intune corpus is absent at {}; set TENANTATLAS_CORPUS to the oib-windows folder",
            dir.display()
        );
        None
    }
}

/// Copies a folder tree (test data into a throwaway import root; never into the project).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            // The corpus is read-only; the copy must be editable.
            let mut perms = std::fs::metadata(&target).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&target, perms).unwrap();
        }
    }
}

pub const RUN_FIELDS: &str = "id status processed total message attempt error warningCount warnings { path reason } affectedPolicyCount durationMs counts { created updated unchanged deleted restored }";

impl TestApp {
    /// A workspace with one tenant connected to `path` under the import root; returns
    /// (admin token, workspace id, tenant id).
    pub async fn tenant_with_export(&self, path: &str) -> (String, String, String) {
        let admin = self.admin_token().await;
        let ws = self
            .create_workspace(&admin, "Inventory", "inventory", "PRODUCTION")
            .await;
        let tenant = self.create_tenant(&admin, &ws, "Contoso HQ", &guid()).await;
        self.gql_ok(
            &admin,
            "mutation($i: ConfigureExportDirectoryInput!) { configureExportDirectory(input: $i) { tenant { id } } }",
            json!({"i": {"tenantId": tenant, "path": path}}),
        )
        .await;
        (admin, ws, tenant)
    }

    /// Starts a sync and returns the run id.
    pub async fn start_sync(&self, token: &str, tenant: &str, confirm: &[&str]) -> String {
        let data = self
            .gql_ok(
                token,
                "mutation($i: StartInventorySyncInput!) { startInventorySync(input: $i) { operationRun { id status } } }",
                json!({"i": {"tenantId": tenant, "confirmEmptyTypes": confirm}}),
            )
            .await;
        data["startInventorySync"]["operationRun"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits (bounded) until a run reaches a final state and returns it.
    pub async fn wait_run(&self, token: &str, run: &str) -> Value {
        let deadline = std::time::Instant::now() + TIMEOUT;
        loop {
            let data = self
                .gql_ok(token, &format!("query($id: ID!) {{ node(id: $id) {{ ... on OperationRun {{ {RUN_FIELDS} }} }} }}"), json!({"id": run}))
                .await;
            let node = data["node"].clone();
            if matches!(
                node["status"].as_str(),
                Some("SUCCEEDED" | "FAILED" | "CANCELLED")
            ) {
                return node;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run did not finish: {node}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Syncs and waits; returns the finished run.
    pub async fn sync(&self, token: &str, tenant: &str, confirm: &[&str]) -> Value {
        let run = self.start_sync(token, tenant, confirm).await;
        self.wait_run(token, &run).await
    }
}

// ---- Drift and findings helpers ----

/// Connects a new tenant of `ws` (slug `slug`) to `<root>/<slug>/<folder>`.
pub async fn tenant_at(app: &TestApp, admin: &str, ws: &str, name: &str, folder: &str) -> String {
    let tenant = app.create_tenant(admin, ws, name, &guid()).await;
    app.gql_ok(
        admin,
        "mutation($i: ConfigureExportDirectoryInput!) { configureExportDirectory(input: $i) { tenant { id } } }",
        json!({"i": {"tenantId": tenant, "path": folder}}),
    )
    .await;
    tenant
}

/// Waits (bounded) until the tenant has at least `n` drift evaluations and none is
/// queued or running; returns the latest.
pub async fn wait_evaluations(
    app: &TestApp,
    token: &str,
    ws: &str,
    tenant: &str,
    n: usize,
) -> Value {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let data = app
            .gql_ok(
                token,
                "query($id: ID!, $t: ID!) { workspace(id: $id) { operationRuns(first: 100, filter: {kind: DRIFT_EVALUATION, tenantId: $t}) {
                    totalCount edges { node { id kind status message error initiatedBy processed total } } } } }",
                json!({"id": ws, "t": tenant}),
            )
            .await;
        let runs = &data["workspace"]["operationRuns"];
        let edges = runs["edges"].as_array().unwrap();
        let done = edges.iter().all(|e| {
            matches!(
                e["node"]["status"].as_str(),
                Some("SUCCEEDED" | "FAILED" | "CANCELLED")
            )
        });
        if edges.len() >= n && done {
            let latest = edges[0]["node"].clone();
            assert_eq!(latest["status"], "SUCCEEDED", "{latest}");
            assert_eq!(latest["kind"], "DRIFT_EVALUATION");
            return latest;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "evaluations did not finish: {runs}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap();
    let text = tenantatlas::providers::export_dir::decode_text(&bytes).unwrap();
    serde_json::from_str(&text).unwrap()
}

pub fn write_json(path: &Path, v: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// A progress sink that never cancels (for service calls made directly by a test).
#[allow(dead_code)]
pub struct NoProgress;

#[async_trait::async_trait]
impl tenantatlas::service::inventory::Progress for NoProgress {
    async fn report(
        &mut self,
        _: usize,
        _: usize,
        _: &str,
    ) -> tenantatlas::error::AppResult<tenantatlas::service::inventory::Control> {
        Ok(tenantatlas::service::inventory::Control::Continue)
    }
}

/// Sets the demo compliance policy's minimum password length in an export folder.
#[allow(dead_code)]
pub fn set_min_length(dir: &Path, n: i64) {
    let file = dir.join("CompliancePolicies/NW-Compliance-Password.json");
    let mut v = read_json(&file);
    v["passwordMinimumLength"] = json!(n);
    write_json(&file, &v);
}

/// A workspace whose "Target" tenant drifts from the baseline made of "Reference" in one
/// setting (the demo export with a minimum password length of 4: one finding), with an
/// operator, a manager, an owner, an auditor and a readonly member (`<role>@msp.test`).
#[allow(dead_code)]
pub struct Drifted {
    pub ws: String,
    pub reference: String,
    pub target: String,
    pub target_dir: PathBuf,
    pub finding: String,
}

#[allow(dead_code)]
pub async fn drifted_workspace(app: &TestApp, admin: &str, name: &str, slug: &str) -> Drifted {
    let ws = app.create_workspace(admin, name, slug, "PRODUCTION").await;
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/exports/northwind-hq");
    let root = app.import_root.0.join(slug);
    copy_tree(&demo, &root.join("ref"));
    copy_tree(&demo, &root.join("target"));
    let reference = tenant_at(app, admin, &ws, "Reference", "ref").await;
    let target = tenant_at(app, admin, &ws, "Target", "target").await;
    app.sync(admin, &reference, &[]).await;
    let target_dir = root.join("target");
    set_min_length(&target_dir, 4);
    app.sync(admin, &target, &[]).await;
    let baseline = app
        .gql_ok(
            admin,
            "mutation($i: CreateBaselineInput!) { createBaseline(input: $i) { baseline { id } } }",
            json!({"i": {"workspaceId": ws, "name": "Standard", "sourceTenantId": reference}}),
        )
        .await["createBaseline"]["baseline"]["id"]
        .clone();
    app.gql_ok(
        admin,
        "mutation($i: BaselineTenantsInput!) { assignBaseline(input: $i) { baseline { id } } }",
        json!({"i": {"baselineId": baseline, "tenantIds": [target]}}),
    )
    .await;
    wait_evaluations(app, admin, &ws, &target, 1).await;
    for (email, role) in [
        ("op@msp.test", "OPERATOR"),
        ("mgr@msp.test", "MANAGER"),
        ("own@msp.test", "OWNER"),
        ("aud@msp.test", "AUDITOR"),
        ("ro@msp.test", "READONLY"),
    ] {
        app.grant(admin, &ws, email, role).await;
    }
    let finding = app
        .gql_ok(
            admin,
            "query($id: ID!) { tenant(id: $id) { findings { edges { node { id } } } } }",
            json!({"id": target}),
        )
        .await["tenant"]["findings"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    Drifted {
        ws,
        reference,
        target,
        target_dir,
        finding,
    }
}
