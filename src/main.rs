//! The `tenantatlas` command line: serve, worker, import, evaluate, migrate, print-schema,
//! token, grant, revoke, audit verify, evidence verify.
use std::{net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use clap::{Args, Parser, Subcommand};
use tenantatlas::{
    auth::Principal,
    authz::Access,
    config::{self, Config, JwtConfig},
    domain::roles::{Role, PLATFORM_DOMAIN},
    error::AppError,
    service::{self, roles::Scope, AppContext},
    store, Application,
};
use tracing_subscriber::EnvFilter;

/// TenantAtlas: Intune governance for MSPs.
#[derive(Parser)]
#[command(name = "tenantatlas", version, about)]
struct Cli {
    /// PostgreSQL connection URL.
    #[arg(long, env = "DATABASE_URL", default_value = config::DEFAULT_DATABASE_URL, global = true, hide_env_values = true)]
    database_url: String,
    #[command(flatten)]
    jwt: JwtArgs,
    #[command(flatten)]
    jobs: JobArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct JobArgs {
    /// Export-directory connections must point inside this folder.
    #[arg(
        long,
        env = "TENANTATLAS_IMPORT_ROOT",
        default_value = "imports",
        global = true
    )]
    import_root: std::path::PathBuf,
    /// Operation-run workers in this process (`serve`: 0 runs the API only).
    #[arg(long, env = "TENANTATLAS_WORKERS", default_value_t = 2, global = true)]
    workers: usize,
    /// Seconds a worker's lease on a run lasts without renewal.
    #[arg(
        long,
        env = "TENANTATLAS_RUN_LEASE_SECS",
        default_value_t = 30,
        global = true
    )]
    run_lease_secs: u64,
    /// Attempts before a run whose workers died is FAILED.
    #[arg(
        long,
        env = "TENANTATLAS_RUN_MAX_ATTEMPTS",
        default_value_t = 3,
        global = true
    )]
    run_max_attempts: i32,
    /// Seconds between the workers' checks for exceptions to expire.
    #[arg(
        long,
        env = "TENANTATLAS_EXPIRY_CHECK_SECS",
        default_value_t = 300,
        global = true
    )]
    expiry_check_secs: u64,
    /// Evidence packs, their signing key (private) and build scratch space.
    #[arg(
        long,
        env = "TENANTATLAS_DATA_DIR",
        default_value = "data",
        global = true
    )]
    data_dir: std::path::PathBuf,
}

#[derive(Args)]
struct JwtArgs {
    /// HS256 secret for bearer tokens (default: generated once, kept in the database).
    #[arg(
        long,
        env = "TENANTATLAS_JWT_SECRET",
        global = true,
        hide_env_values = true
    )]
    jwt_secret: Option<String>,
    /// Key of secret fingerprints (HMAC); default: generated once, kept in the database.
    /// Set it to keep the key out of the database; changing it changes every fingerprint.
    #[arg(
        long,
        env = "TENANTATLAS_FINGERPRINT_KEY",
        global = true,
        hide_env_values = true
    )]
    fingerprint_key: Option<String>,
    /// Required `iss` claim.
    #[arg(long, env = "TENANTATLAS_JWT_ISSUER", global = true)]
    jwt_issuer: Option<String>,
    /// Required `aud` claim.
    #[arg(long, env = "TENANTATLAS_JWT_AUDIENCE", global = true)]
    jwt_audience: Option<String>,
    /// JWKS file with RS256 public keys (e.g. Entra ID's signing keys).
    #[arg(long, env = "TENANTATLAS_JWKS_FILE", global = true)]
    jwks_file: Option<std::path::PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Create/migrate the database and serve the API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "TENANTATLAS_LISTEN", default_value = config::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Seed demo data (idempotent) and print a ready token and a sample query.
        #[arg(long)]
        demo: bool,
        /// Connections in the pool.
        #[arg(long, env = "TENANTATLAS_DB_POOL_SIZE", default_value_t = 10)]
        pool_size: u32,
        /// Per-request timeout in seconds.
        #[arg(long, env = "TENANTATLAS_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
        request_timeout_secs: u64,
    },
    /// Run operation-run workers only (no HTTP), so API and workers scale apart.
    Worker,
    /// Import an export folder into a tenant (created if absent) and show a summary.
    Import {
        /// Workspace slug (created, as PRODUCTION, if absent).
        #[arg(long)]
        workspace: String,
        /// Tenant display name (created if absent).
        #[arg(long)]
        tenant: String,
        /// Entra tenant id for a tenant created here (default: a random GUID).
        #[arg(long)]
        entra_tenant_id: Option<String>,
        /// Contract types that may come back empty and are then deleted.
        #[arg(long = "confirm-empty-type")]
        confirm_empty_types: Vec<String>,
        /// The export folder (one folder per kind, one JSON file per policy).
        dir: std::path::PathBuf,
    },
    /// Evaluate a tenant's drift against its assigned baselines now, and show a summary.
    Evaluate {
        /// Workspace slug.
        #[arg(long)]
        workspace: String,
        /// Tenant display name.
        #[arg(long)]
        tenant: String,
    },
    /// Create the database if missing and apply pending migrations.
    Migrate {
        /// Revert every migration instead (destroys all data).
        #[arg(long)]
        revert_all: bool,
    },
    /// Print the GraphQL schema (SDL) to stdout.
    PrintSchema,
    /// Print a bearer token for a user.
    Token {
        /// The user's e-mail address.
        #[arg(long)]
        user: String,
        /// Lifetime, e.g. 30m, 8h, 7d.
        #[arg(long, default_value = "8h", value_parser = humantime::parse_duration)]
        ttl: Duration,
    },
    /// Grant a role: a workspace role in a workspace, or a platform role with --workspace '*'.
    Grant(GrantArgs),
    /// Revoke a role granted with `grant`.
    Revoke(GrantArgs),
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Evidence pack tools (offline: no database needed).
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
}

#[derive(Subcommand)]
enum EvidenceCommand {
    /// Check every file's SHA-256 and the manifest's Ed25519 signature; exits 1 naming the
    /// first file that does not match.
    Verify {
        /// The pack (ZIP) to check.
        file: std::path::PathBuf,
        /// The signer's public key (base64, from `evidenceSigningKeys`), or a file holding
        /// it. Without it the key the pack carries is used: that proves the pack is intact,
        /// not who signed it.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Args)]
struct GrantArgs {
    /// The user's e-mail address.
    #[arg(long)]
    user: String,
    /// platform_admin, platform_operator, owner, manager, operator, auditor or readonly.
    #[arg(long)]
    role: String,
    /// Workspace slug, or '*' for a platform role.
    #[arg(long)]
    workspace: String,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute a workspace's hash chain; exits non-zero on a break.
    Verify {
        /// Workspace slug, or '*' for the platform chain.
        #[arg(long)]
        workspace: String,
    },
}

/// Errors that end the program, printed as one line.
enum Failure {
    App(AppError),
    Message(String, u8),
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Failure::App(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("info,tenantatlas=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let url = cli.database_url.clone();
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::App(AppError::DatabaseUnavailable(detail))) => {
            eprintln!(
                "error: cannot reach PostgreSQL at {} ({}); start it (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`) or set DATABASE_URL",
                config::redact_database_url(&url),
                detail.lines().next().unwrap_or("").trim()
            );
            ExitCode::from(2)
        }
        Err(Failure::App(e)) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
        Err(Failure::Message(m, code)) => {
            eprintln!("error: {m}");
            ExitCode::from(code)
        }
    }
}

fn config_from(cli: &Cli) -> Config {
    let mut config = Config::new(cli.database_url.clone());
    config.jobs = tenantatlas::config::JobSettings {
        import_root: cli.jobs.import_root.clone(),
        workers: cli.jobs.workers,
        lease: Duration::from_secs(cli.jobs.run_lease_secs.max(1)),
        poll_interval: Duration::from_secs(1),
        max_attempts: cli.jobs.run_max_attempts.max(1),
        expiry_check_interval: Duration::from_secs(cli.jobs.expiry_check_secs.max(1)),
    };
    config.data_dir = cli.jobs.data_dir.clone();
    config.fingerprint_key = cli.jwt.fingerprint_key.clone().filter(|k| !k.is_empty());
    config.jwt = JwtConfig {
        secret: cli.jwt.jwt_secret.clone(),
        issuer: cli.jwt.jwt_issuer.clone(),
        audience: cli.jwt.jwt_audience.clone(),
        jwks_file: cli.jwt.jwks_file.clone(),
    };
    config
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let mut config = config_from(&cli);
    match cli.command {
        Command::Serve {
            listen,
            demo,
            pool_size,
            request_timeout_secs,
        } => {
            config.listen = listen;
            config.pool_size = pool_size;
            config.request_timeout = Duration::from_secs(request_timeout_secs.max(1));
            serve(config, demo).await
        }
        Command::Migrate { revert_all } => {
            tenantatlas::db::ensure_database(&config.database_url).await?;
            if revert_all {
                let n = tenantatlas::db::revert_all_migrations(&config.database_url).await?;
                println!("reverted {n} migration(s)");
            } else {
                let n = tenantatlas::db::run_migrations(&config.database_url).await?;
                println!("applied {n} migration(s); database is up to date");
            }
            Ok(())
        }
        Command::Worker => {
            tracing::info!(workers = config.jobs.workers.max(1), "running workers only");
            tenantatlas::run_workers_until(config, shutdown_signal()).await?;
            Ok(())
        }
        Command::Evaluate { workspace, tenant } => evaluate(&config, &workspace, &tenant).await,
        Command::Import {
            workspace,
            tenant,
            entra_tenant_id,
            confirm_empty_types,
            dir,
        } => {
            import(
                &config,
                &workspace,
                &tenant,
                entra_tenant_id,
                confirm_empty_types,
                &dir,
            )
            .await
        }
        Command::PrintSchema => {
            print!("{}", tenantatlas::api::schema_sdl());
            Ok(())
        }
        Command::Token { user, ttl } => {
            if ttl > Duration::from_secs(30 * 24 * 3600) {
                return Err(Failure::Message("--ttl may be at most 30d".into(), 1));
            }
            if ttl.is_zero() {
                return Err(Failure::Message("--ttl must be positive".into(), 1));
            }
            let app = tenantatlas::build_context(&config).await?;
            println!("{}", app.tokens.issue(&user, ttl)?);
            Ok(())
        }
        Command::Grant(args) => change_role(&config, args, true).await,
        Command::Revoke(args) => change_role(&config, args, false).await,
        Command::Audit {
            command: AuditCommand::Verify { workspace },
        } => verify_audit(&config, &workspace).await,
        Command::Evidence {
            command: EvidenceCommand::Verify { file, public_key },
        } => verify_evidence(&file, public_key.as_deref()),
    }
}

/// `tenantatlas evidence verify`: exit 0 when the pack verifies, 1 when it does not, 2
/// when it cannot be read or the key is unusable.
fn verify_evidence(file: &std::path::Path, public_key: Option<&str>) -> Result<(), Failure> {
    use tenantatlas::evidence::archive::{parse_public_key, verify_pack};
    // The key itself, else a file holding it.
    let pinned = match public_key {
        None => None,
        Some(text) => match parse_public_key(text) {
            Ok(key) => Some(key),
            Err(not_a_key) => {
                let path = std::path::Path::new(text);
                if !path.is_file() {
                    return Err(Failure::Message(
                        format!("--public-key is neither a key ({not_a_key}) nor a key file"),
                        2,
                    ));
                }
                let content = std::fs::read_to_string(path).map_err(|e| {
                    Failure::Message(format!("cannot read {}: {e}", path.display()), 2)
                })?;
                Some(
                    parse_public_key(&content)
                        .map_err(|e| Failure::Message(format!("{}: {e}", path.display()), 2))?,
                )
            }
        },
    };
    if !file.is_file() {
        return Err(Failure::Message(
            format!("{} is not a file", file.display()),
            2,
        ));
    }
    let reader = std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .map_err(|e| Failure::Message(format!("cannot open {}: {e}", file.display()), 2))?;
    match verify_pack(reader, pinned.as_deref()) {
        Ok(ok) => {
            println!(
                "OK: {} files and the manifest match; signed by key {}{}",
                ok.files,
                ok.key_id,
                if ok.key_pinned {
                    " (the given public key)"
                } else {
                    " (the key carried in the pack; pass --public-key to check who signed it)"
                }
            );
            Ok(())
        }
        Err(mismatch) => Err(Failure::Message(
            format!("verification FAILED: {mismatch}"),
            1,
        )),
    }
}

async fn resolve_scope(app: &AppContext, workspace: &str) -> Result<Scope, Failure> {
    if workspace == PLATFORM_DOMAIN {
        return Ok(Scope::Platform);
    }
    let mut conn = app.db.conn().await?;
    match store::workspaces::find_workspace_by_slug(&mut conn, workspace).await? {
        Some(ws) => Ok(Scope::Workspace(ws.workspace_id())),
        None => Err(Failure::Message(
            format!("no workspace with slug {workspace:?}"),
            1,
        )),
    }
}

async fn change_role(config: &Config, args: GrantArgs, grant: bool) -> Result<(), Failure> {
    let role: Role = args.role.parse().map_err(|e| Failure::Message(e, 1))?;
    let app = tenantatlas::build_context(config).await?;
    let scope = resolve_scope(&app, &args.workspace).await?;
    let access = Access::new(Principal::System("cli"), app.authz.clone());
    if grant {
        let user = service::roles::grant_role(&app, &access, scope, &args.user, role).await?;
        println!("granted {role} to {} in {}", user.email, args.workspace);
    } else {
        let user = service::roles::revoke_role(&app, &access, scope, &args.user, role).await?;
        println!("revoked {role} from {} in {}", user.email, args.workspace);
    }
    Ok(())
}

async fn verify_audit(config: &Config, workspace: &str) -> Result<(), Failure> {
    let app = tenantatlas::build_context(config).await?;
    let scope = resolve_scope(&app, workspace).await?;
    let ws = match scope {
        Scope::Platform => None,
        Scope::Workspace(w) => Some(w),
    };
    match service::audit::verify_workspace_chain(&app, ws).await? {
        Ok(report) => {
            println!(
                "ok: {} event(s) verified; head {}",
                report.events, report.head
            );
            Ok(())
        }
        Err(broken) => Err(Failure::Message(
            format!(
                "audit chain of {workspace} is broken at event {}: {}",
                broken.seq, broken.reason
            ),
            3,
        )),
    }
}

async fn import(
    config: &Config,
    slug: &str,
    tenant_name: &str,
    entra: Option<String>,
    confirm_empty_types: Vec<String>,
    dir: &std::path::Path,
) -> Result<(), Failure> {
    use tenantatlas::{domain::workspace::Environment, service::tenants};
    let dir = dir
        .canonicalize()
        .ok()
        .filter(|d| d.is_dir())
        .ok_or_else(|| Failure::Message(format!("{} is not a directory", dir.display()), 1))?;
    for t in &confirm_empty_types {
        if tenantatlas::domain::contracts::find_contract(t).is_none() {
            return Err(Failure::Message(format!("unknown contract type {t:?}"), 1));
        }
    }
    let app = tenantatlas::build_context(config).await?;
    let access = Access::new(Principal::System("cli"), app.authz.clone());
    let existing = {
        let mut conn = app.db.conn().await?;
        store::workspaces::find_workspace_by_slug(&mut conn, slug).await?
    };
    let ws = match existing {
        Some(ws) => ws,
        None => {
            let ws = service::workspaces::create_workspace(
                &app,
                &access,
                slug,
                slug,
                Environment::Production,
            )
            .await?;
            eprintln!("created workspace {slug}");
            ws
        }
    };
    let found = {
        let mut conn = app.db.conn().await?;
        store::tenants::find_tenant_by_name(&mut conn, ws.workspace_id(), tenant_name).await?
    };
    let tenant = match found {
        Some(t) => t,
        None => {
            let entra = entra.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            let t = tenants::create_tenant(&app, &access, ws.workspace_id(), tenant_name, &entra)
                .await?;
            eprintln!("created tenant {tenant_name} (entraTenantId {entra})");
            t
        }
    };
    let worker = format!("cli-{}", std::process::id());
    let run = {
        let mut conn = app.db.conn().await?;
        store::operation_runs::insert_claimed_run(
            &mut conn,
            ws.workspace_id(),
            Some(tenant.id),
            tenantatlas::service::operations::kinds::INVENTORY_SYNC,
            serde_json::json!({"path": dir.to_string_lossy(), "confirmEmptyTypes": confirm_empty_types, "source": "cli"}),
            &access.actor(),
            &worker,
            app.jobs.lease.as_secs_f64(),
        )
        .await?
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} files  {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let observer_bar = bar.clone();
    tenantatlas::jobs::execute_run_observed(
        app.clone(),
        run.clone(),
        worker,
        Some(Box::new(move |done, total, message| {
            observer_bar.set_length(total as u64);
            observer_bar.set_position(done as u64);
            observer_bar.set_message(message.to_string());
        })),
    )
    .await;
    bar.finish_and_clear();
    let done = {
        let mut conn = app.db.conn().await?;
        store::operation_runs::find_run(&mut conn, ws.workspace_id(), run.id).await?
    }
    .ok_or_else(|| Failure::Message("the run vanished".into(), 1))?;
    println!(
        "{}: {} created, {} updated, {} unchanged, {} deleted, {} restored, {} warning(s)",
        done.status,
        done.created_count,
        done.updated_count,
        done.unchanged_count,
        done.deleted_count,
        done.restored_count,
        done.warnings.as_array().map_or(0, Vec::len)
    );
    for w in done.warnings.as_array().into_iter().flatten() {
        println!(
            "  warning: {}: {}",
            w.get("path").and_then(|v| v.as_str()).unwrap_or("?"),
            w.get("reason").and_then(|v| v.as_str()).unwrap_or("?")
        );
    }
    match done.status.as_str() {
        "SUCCEEDED" => Ok(()),
        _ => Err(Failure::Message(
            done.error.unwrap_or_else(|| done.status.clone()),
            1,
        )),
    }
}

async fn evaluate(config: &Config, slug: &str, tenant_name: &str) -> Result<(), Failure> {
    let app = tenantatlas::build_context(config).await?;
    let access = Access::new(Principal::System("cli"), app.authz.clone());
    let (ws, tenant) = {
        let mut conn = app.db.conn().await?;
        let ws = store::workspaces::find_workspace_by_slug(&mut conn, slug)
            .await?
            .ok_or_else(|| Failure::Message(format!("no workspace {slug:?}"), 1))?;
        let tenant = store::tenants::find_tenant_by_name(&mut conn, ws.workspace_id(), tenant_name)
            .await?
            .ok_or_else(|| Failure::Message(format!("no tenant {tenant_name:?} in {slug}"), 1))?;
        let assigned = store::baselines::list_tenant_assignments(
            &mut conn,
            ws.workspace_id(),
            tenantatlas::domain::ids::TenantId(tenant.id),
        )
        .await?;
        if assigned.is_empty() {
            return Err(Failure::Message(
                format!(
                    "no baseline is assigned to {tenant_name:?}; assign one first (assignBaseline)"
                ),
                1,
            ));
        }
        (ws, tenant)
    };
    let worker = format!("cli-{}", std::process::id());
    let run = {
        let mut conn = app.db.conn().await?;
        store::operation_runs::insert_claimed_run(
            &mut conn,
            ws.workspace_id(),
            Some(tenant.id),
            tenantatlas::service::operations::kinds::DRIFT_EVALUATION,
            serde_json::json!({"source": "cli"}),
            &access.actor(),
            &worker,
            app.jobs.lease.as_secs_f64(),
        )
        .await?
    };
    tenantatlas::jobs::execute_run(app.clone(), run.clone(), worker).await;
    let done = {
        let mut conn = app.db.conn().await?;
        store::operation_runs::find_run(&mut conn, ws.workspace_id(), run.id).await?
    }
    .ok_or_else(|| Failure::Message("the run vanished".into(), 1))?;
    println!("{}: {}", done.status, done.message.unwrap_or_default());
    match done.status.as_str() {
        "SUCCEEDED" => Ok(()),
        _ => Err(Failure::Message(
            done.error.unwrap_or_else(|| done.status.clone()),
            1,
        )),
    }
}

async fn serve(config: Config, demo: bool) -> Result<(), Failure> {
    let app = Application::build(config.clone()).await?;
    let addr = app.local_addr()?;
    let context: Arc<AppContext> = app.context();
    if demo {
        service::demo::seed_demo(&context).await?;
        let token = context
            .tokens
            .issue(service::demo::DEMO_OWNER, Duration::from_secs(8 * 3600))?;
        println!(
            "TenantAtlas demo data is ready (owner: {}).",
            service::demo::DEMO_OWNER
        );
        println!();
        println!("GraphiQL:  http://{addr}/graphql");
        println!(
            "Token (valid 8h), add it under Headers as {{\"Authorization\": \"Bearer <token>\"}}:"
        );
        println!();
        println!("{token}");
        println!();
        println!("Sample query:");
        println!("  query {{ viewer {{ user {{ email }} }} workspaces(first: 10) {{ totalCount edges {{ node {{ name slug environment viewerRoles tenants(first: 5) {{ totalCount edges {{ node {{ displayName entraTenantId lastSyncedAt policies(first: 10) {{ totalCount edges {{ node {{ displayName contractType platform lifecycleState settings(path: \"password\") {{ path value }} }} }} }} }} }} }} operationRuns(first: 3) {{ edges {{ node {{ status message durationMs affectedPolicyCount }} }} }} }} }} }} }}");
        println!();
        println!("Or with curl:");
        println!("  curl -s http://{addr}/graphql -H 'Content-Type: application/json' -H \"Authorization: Bearer {token}\" -d '{{\"query\":\"{{ workspaces {{ totalCount edges {{ node {{ name environment }} }} }} }}\"}}'");
    }
    tracing::info!(address = %addr, "serving");
    app.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown requested; draining");
}
