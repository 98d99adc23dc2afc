#![recursion_limit = "256"]
//! The HakuRiver host: one process keeping the cluster's state in SQLite and serving, from one
//! origin, the REST API (`/api/...` and the original's bare paths), the live-event websocket and
//! the Leptos dashboard.

pub mod api;
pub mod auth;
pub mod clock;
pub mod compat;
pub mod db;
pub mod envs;
pub mod ids;
pub mod limits;
pub mod operations;
pub mod preflight;
pub mod request_id;
pub mod scheduler;
pub mod services;
pub mod site;
pub mod site_settings;
pub mod ssh_proxy;
pub mod state;
pub mod storage;

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::ServiceExt as _;
use hakuriver_config::Config;
use leptos_axum::LeptosRoutes;
use tokio::sync::watch;

use services::events::EventBus;
use services::health::HealthHistory;
use services::nodes::NodeRegistry;
use services::runner_client::RunnerClient;
use services::submit_request::SubmitDefaults;
use services::tasks::TaskService;
use services::Services;
use state::AppState;

/// How often the health history takes a snapshot.
const HEALTH_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// How long a stopping host waits for websocket sessions to send their close frames.
const SESSIONS_CLOSE_WAIT: Duration = Duration::from_secs(3);
/// How often the queue is looked at even without a reason to.
const QUEUE_RECHECK: Duration = Duration::from_secs(1);
/// The least time between the starts of two queue passes. A pass reads the whole backlog under
/// the schedule lock; under a stream of submits and completions, kicks come faster than passes
/// end, and back-to-back passes would leave submits waiting for that lock. Kicks that arrive
/// within the gap are served by one pass at its end: a lone kick is served at once. A long pass
/// (a deep backlog) widens the gap to `QUEUE_PASS_SHARE` times its own length, so the queue
/// takes at most about a fifth of the lock's time however deep it gets.
const QUEUE_PASS_GAP: Duration = Duration::from_millis(25);
const QUEUE_PASS_SHARE: u32 = 5;

/// Prepares storage and the database, then serves on `listener` until `shutdown` completes.
pub async fn serve<L>(
    config: Config,
    listener: L,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
    for<'a> auth::Peer: axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    if config.auth.enabled && config.auth.runner_token.expose().is_none() {
        anyhow::bail!(
            "auth.enabled = true needs auth.runner_token, the secret runners present (`hakuriver init config` writes one)"
        );
    }
    storage::create_layout(&config)?;
    let location = db::Location::of(&config.database);
    let pool = db::open(location.clone()).await.with_context(|| format!("cannot open database {location}"))?;
    tracing::info!(db = %location, shared = %config.paths.shared_dir.display(), "state ready");
    // Started on the original HakuRiver's own database file: its nodes and history come along.
    // A failure is reported, not fatal: `hakuriver-host import-hakuriver` can try again.
    match db::original::import_in_place(&pool, &config.docker.default_container_name).await {
        Ok(Some(done)) => tracing::info!(%done, "imported the original HakuRiver's nodes and tasks from this database"),
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "cannot import the original HakuRiver's tables in this database"),
    }

    let events = EventBus::default();
    let defaults = SubmitDefaults {
        container_name: config.docker.default_container_name.clone(),
        privileged: config.docker.tasks_privileged,
        additional_mounts: config.docker.additional_mounts.clone(),
        policy: config.policy.clone(),
        limits: config.limits.clone(),
    };
    let auth = auth::Auth::new(&config.auth, pool.clone());
    warn_about_auth(&config);
    let ca = config.tls_ca_pem().context("network.tls_ca_file")?;
    let runners = RunnerClient::new(config.auth.runner_token.expose(), ca.as_deref())?;
    let logs =
        (config.paths.shared_dir.clone(), (config.paths.max_log_bytes > 0).then_some(config.paths.max_log_bytes));
    let tasks = TaskService::new(pool.clone(), logs, defaults, events.clone(), runners.clone());
    let history = services::history::NodeHistory::new(config.timing.heartbeat_interval());
    let nodes = NodeRegistry::new(
        pool.clone(),
        events.clone(),
        history.clone(),
        tasks.clone(),
        config.timing.heartbeat_interval(),
        config.timing.offline_after(),
        services::nodes::RunnerTrust {
            bind_names: config.auth.enabled,
            networks: config.network.runner_networks.clone(),
        },
    );
    let envs =
        envs::EnvService::connect(config.container_dir(), config.paths.shared_dir.clone(), config.registries.clone())
            .await;
    envs.clean_partials();
    let operations = operations::Operations::default();
    {
        let (envs, env, image) =
            (envs.clone(), config.docker.default_container_name.clone(), config.docker.initial_base_image.clone());
        operations.start("setup_default_env", &config.docker.default_container_name, move |progress| async move {
            envs.ensure_default(&env, &image, &progress).await;
            Ok(serde_json::Value::Null)
        });
    }
    let vps = services::vps::VpsDirectory::new(pool.clone());
    let services = Services {
        nodes,
        tasks,
        vps,
        envs,
        operations,
        events,
        health: HealthHistory::default(),
        history,
        auth,
        runners,
        ssh_proxy_port: config.network.host_ssh_proxy_port,
        snapshots: services::vps_snapshots::Snapshots {
            pool: pool.clone(),
            dir: config.container_dir(),
            kept: config.docker.vps_snapshots_kept,
        },
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = std::sync::Arc::new(stop_tx);
    let addr = listener.local_addr()?;
    let state = AppState {
        services: services.clone(),
        leptos: site::leptos_options(addr, &site_settings::embedded()?),
        shutdown: stop_rx.clone(),
        base_path: config.network.base_path.clone(),
        tls: config.host_tls(),
        log_streams: limits::LogStreams::default(),
        public_names: hakuriver_support::request_rules::PublicNames::with_hostname(
            config.network.public_hosts.iter().chain([&config.network.host_reachable_address]),
        ),
    };
    if !site::has_wasm_bundle(&state.leptos) {
        tracing::warn!("dashboard assets missing (run scripts/build-site.sh): pages render without live updates");
    }

    let proxy_listener = ssh_proxy::bind(&config.network.host_bind_ip, config.network.host_ssh_proxy_port)
        .await
        .context("cannot listen for SSH (network.host_bind_ip / network.host_ssh_proxy_port)")?;
    let host_key = ssh_host_key_path(&config);
    let proxy = ssh_proxy::SshProxy::new(
        services.vps.clone(),
        services.auth.clone(),
        &host_key,
        config.timing.ssh_handshake_timeout(),
        config.network.ssh_proxy_max_per_address,
    )?;
    tracing::info!(listen = %proxy_listener.local_addr()?, "SSH proxy (REQUEST_TUNNEL and ssh -J) listening");
    let proxy = tokio::spawn(proxy.serve(proxy_listener, stop_rx.clone()));

    let liveness = tokio::spawn(liveness_loop(services.clone(), config.timing.node_tick(), stop_rx.clone()));
    if let Err(e) = services.nodes.load_views().await {
        tracing::error!(error = %e, "cannot read the nodes for the health history");
    }
    let sampler = tokio::spawn(health_loop(services.clone(), stop_rx.clone()));
    if let Err(e) = services.tasks.redispatch_assigning().await {
        tracing::error!(error = %e, "cannot send again the tasks placed before the restart");
    }
    let queue = tokio::spawn(queue_loop(services, stop_rx.clone()));
    drop(stop_rx);

    let app = router(state);
    let app = tower::util::MapRequest::new(app, compat::rewrite);
    let signal = stop_tx.clone();
    let server = axum::serve(listener, app.into_make_service_with_connect_info::<auth::Peer>()).with_graceful_shutdown(
        async move {
            shutdown.await;
            tracing::info!("shutting down");
            let _ = signal.send(true);
        },
    );
    server.await.context("HTTP server failed")?;
    let _ = tokio::join!(liveness, sampler, queue, proxy);
    // Websocket sessions hold the signal's receivers until they have sent their close frames.
    if tokio::time::timeout(SESSIONS_CLOSE_WAIT, stop_tx.closed()).await.is_err() {
        tracing::warn!("some websocket sessions did not close in time");
    }
    pool.close().await;
    tracing::info!("host stopped");
    Ok(())
}

/// The jump host's SSH host key: next to the database file.
pub fn ssh_host_key_path(config: &Config) -> std::path::PathBuf {
    let db = &config.database.db_file;
    db.parent().unwrap_or(std::path::Path::new(".")).join("hakuriver_ssh_host_ed25519_key")
}

/// Every route of the host on one router: REST, websockets, dashboard pages and assets. With a
/// base path, pages live only under it (their links carry it), while the REST API, the
/// websockets, server functions and assets answer both under it (what a reverse proxy passes
/// on) and at the root (runners and the original's clients, which know no base path).
pub fn router(state: AppState) -> Router {
    let context = site::context(&state);
    let (routes, _) =
        leptos_axum::generate_route_list_with_exclusions_and_ssg_and_context(hakuriver_app::App, None, context.clone());
    let options = state.leptos.clone();
    let pages = Router::new()
        .leptos_routes_with_context(&state, routes, context, move || hakuriver_app::shell(options.clone()));
    let base = state.base_path.clone();
    let root = api::router().merge(auth::login::router()).fallback(site::fallback).with_state(state.clone());
    let app = pages.with_state(state.clone()).merge(root);
    let guard = axum::middleware::from_fn_with_state(state.clone(), auth::guard::guard);
    if base.is_empty() {
        return app.layer(guard);
    }
    // Under the base path: the same REST routes and assets, and the server functions the
    // browser calls there.
    let context = site::context(&state);
    let server_fns = move |req: axum::extract::Request| {
        let context = context.clone();
        async move { leptos_axum::handle_server_fns_with_context(context, req).await }
    };
    let under_base = api::router()
        .merge(auth::login::router())
        .route("/api/ui/{*fn_name}", axum::routing::any(server_fns))
        .fallback(site::fallback)
        .with_state(state.clone());
    app.nest(&base, under_base).layer(guard)
}

/// Authentication off is the original's behaviour, for its clients and runners; say so loudly
/// when anyone beyond this machine can reach the host.
fn warn_about_auth(config: &Config) {
    if config.auth.enabled {
        if config.auth.admin_token.expose().is_none() {
            tracing::info!("auth.admin_token is not set: only tokens already in the database open the host");
        }
        return;
    }
    let loopback = config.network.host_bind_ip.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        tracing::warn!(
            bind = %config.network.host_bind_ip,
            "AUTHENTICATION IS OFF and the host listens beyond this machine: anyone who can reach port {} or {} can run commands as root on every runner and open shells. Set [auth] enabled = true (`hakuriver init config` writes a configuration with tokens).",
            config.network.host_port,
            config.network.host_ssh_proxy_port,
        );
    }
}

/// Writes held heartbeats, reconciles their tasks, and marks nodes offline when their heartbeats
/// stop: `NodeRegistry::tick`.
async fn liveness_loop(services: Services, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = services.nodes.tick().await {
                    tracing::error!(error = %e, "heartbeat tick failed");
                }
            }
            () = state::stopped(&mut stop) => return,
        }
    }
}

/// Places queued tasks when resources may have freed up, and at least once a second.
async fn queue_loop(services: Services, mut stop: watch::Receiver<bool>) {
    let started = tokio::time::Instant::now();
    let mut last_pass = started.checked_sub(QUEUE_PASS_GAP).unwrap_or(started);
    let mut gap = QUEUE_PASS_GAP;
    loop {
        tokio::select! {
            () = services.tasks.kicked() => {}
            () = tokio::time::sleep(QUEUE_RECHECK) => {}
            () = state::stopped(&mut stop) => return,
        }
        tokio::select! {
            () = tokio::time::sleep_until(last_pass + gap) => {}
            () = state::stopped(&mut stop) => return,
        }
        last_pass = tokio::time::Instant::now();
        if let Err(e) = services.tasks.run_queue().await {
            tracing::error!(error = %e, "queue pass failed");
        }
        gap = (last_pass.elapsed() * QUEUE_PASS_SHARE).clamp(QUEUE_PASS_GAP, QUEUE_RECHECK);
    }
}

/// Feeds the `/health` history from the nodes as last published (no database read).
async fn health_loop(services: Services, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(HEALTH_SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                services.health.record(&services.nodes.published(), chrono::Local::now().naive_local());
            }
            () = state::stopped(&mut stop) => return,
        }
    }
}
