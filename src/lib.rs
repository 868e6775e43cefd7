//! TenantAtlas: the governance backend for MSPs running Microsoft Intune.
//!
//! [`Application::build`] assembles the whole server; `main` and the tests use it alike.
pub mod api;
pub mod auth;
pub mod authz;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod evidence;
pub mod http;
pub mod jobs;
pub mod providers;
pub mod service;
pub mod store;

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use rand::RngCore;
use tokio::{net::TcpListener, sync::watch};

use crate::{
    auth::jwt::TokenService,
    authz::Authz,
    config::Config,
    db::Db,
    error::{AppError, AppResult},
    events::EventBus,
    service::AppContext,
};

/// Key of the generated HS256 secret in `server_settings`.
const JWT_SECRET_KEY: &str = "jwt.hs256_secret";

/// Key of the generated secret-fingerprint (HMAC) key in `server_settings`.
const FINGERPRINT_KEY: &str = "secrets.fingerprint_key";

/// Creates the database if needed, migrates it and builds the process context (pool,
/// enforcer, token service, event bus) without listening for events.
pub async fn build_context(config: &Config) -> AppResult<Arc<AppContext>> {
    db::prepare(&config.database_url).await?;
    let db = Db::connect(&config.database_url, config.pool_size).await?;
    let secret = match &config.jwt.secret {
        Some(s) if !s.is_empty() => s.clone(),
        _ => {
            let mut conn = db.conn().await?;
            store::settings::get_or_insert(&mut conn, JWT_SECRET_KEY, || {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                hex::encode(bytes)
            })
            .await?
        }
    };
    let tokens = Arc::new(TokenService::new(&secret, &config.jwt)?);
    // The key of secret fingerprints: generated once per deployment, never returned.
    let fingerprint_key = match &config.fingerprint_key {
        Some(key) => key.clone(),
        None => {
            let mut conn = db.conn().await?;
            store::settings::get_or_insert(&mut conn, FINGERPRINT_KEY, || {
                let mut bytes = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut bytes);
                hex::encode(bytes)
            })
            .await?
        }
    };
    let fingerprinter = Arc::new(crate::domain::secrets::Fingerprinter::new(
        fingerprint_key.as_bytes(),
    ));
    let authz = Arc::new(Authz::load(&db).await?);
    let evidence = Arc::new(evidence::EvidenceContext::new(
        config.data_dir.clone(),
        Arc::new(evidence::storage::LocalStorage::new(
            config.data_dir.clone(),
        )),
        evidence::DownloadUrls::new(secret.as_bytes()),
    ));
    Ok(Arc::new(AppContext {
        db,
        jobs: config.jobs.clone(),
        authz,
        tokens,
        events: EventBus::new(),
        fingerprinter,
        drift_cache: Default::default(),
        evidence,
        clock: Default::default(),
    }))
}

/// A built server, bound to its port but not yet serving.
pub struct Application {
    listener: TcpListener,
    context: Arc<AppContext>,
    router: axum::Router,
    shutdown: watch::Sender<bool>,
    listener_task: tokio::task::JoinHandle<()>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    /// Builds everything and binds `config.listen` (port 0 picks a free port).
    pub async fn build(config: Config) -> AppResult<Self> {
        let context = build_context(&config).await?;
        // The evidence signing key exists from the first start on.
        context.evidence.signer(&context.db).await?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let listener_task = context.events.spawn_listener(
            config.database_url.clone(),
            context.authz.clone(),
            shutdown_rx.clone(),
        );
        let workers =
            jobs::spawn_workers(context.clone(), config.jobs.workers, shutdown_rx.clone());
        let schema = api::build_schema(context.clone());
        let router = http::router(
            http::HttpState {
                app: context.clone(),
                schema,
                shutdown: shutdown_rx,
            },
            config.request_timeout,
        );
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|e| AppError::internal(format!("cannot listen on {}: {e}", config.listen)))?;
        Ok(Self {
            listener,
            context,
            router,
            shutdown,
            listener_task,
            workers,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> AppResult<SocketAddr> {
        self.listener.local_addr().map_err(AppError::internal)
    }

    /// The process context (tests use it to reach the database and counters).
    pub fn context(&self) -> Arc<AppContext> {
        self.context.clone()
    }

    /// Serves until `signal` completes, then drains in-flight requests and stops.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> AppResult<()> {
        // Subscriptions depend on the LISTEN connection; do not report "serving" before it.
        if !self
            .context
            .events
            .wait_listening(Duration::from_secs(10))
            .await
        {
            tracing::warn!("event listener is not connected yet; live updates may lag");
        }
        let shutdown = self.shutdown.clone();
        let result = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                signal.await;
                let _ = shutdown.send(true);
            })
            .await;
        let _ = self.shutdown.send(true);
        stop_workers(self.workers).await;
        let _ = self.listener_task.await;
        result.map_err(AppError::internal)
    }
}

/// Lets workers finish the run in hand for a while; a run still going after that is left
/// to its lease, and another worker resumes it.
async fn stop_workers(workers: Vec<tokio::task::JoinHandle<()>>) {
    let grace = Duration::from_secs(10);
    for w in workers {
        let abort = w.abort_handle();
        if tokio::time::timeout(grace, w).await.is_err() {
            tracing::warn!(
                "a worker did not finish within the grace period; its run resumes elsewhere"
            );
            abort.abort();
        }
    }
}

/// Runs workers only (no HTTP), until `signal` completes: `tenantatlas worker`.
pub async fn run_workers_until(
    config: Config,
    signal: impl Future<Output = ()> + Send + 'static,
) -> AppResult<()> {
    let context = build_context(&config).await?;
    context.evidence.signer(&context.db).await?;
    let (shutdown, shutdown_rx) = watch::channel(false);
    let listener = context.events.spawn_listener(
        config.database_url.clone(),
        context.authz.clone(),
        shutdown_rx.clone(),
    );
    let workers = jobs::spawn_workers(context.clone(), config.jobs.workers.max(1), shutdown_rx);
    signal.await;
    let _ = shutdown.send(true);
    stop_workers(workers).await;
    let _ = listener.await;
    Ok(())
}
