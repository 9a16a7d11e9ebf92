//! `parla serve`: runs the configured services in one process on one
//! address, with the standard gRPC health service, reflection and gRPC-web,
//! checks the service token of internal RPCs when one is set, and drains
//! open streams on shutdown.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderValue;
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::services::{self, ServiceKind, Startup};

/// Runs the server on `listener` until `shutdown` resolves, then stops
/// accepting calls, reports NOT_SERVING, and gives open streams
/// `shutdown_grace_secs` to finish.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Services that call each other in-process need the bound address
    // (port 0 is only known now).
    let mut config = config;
    config.listen = listener.local_addr()?;
    let startups = config
        .services
        .iter()
        .map(|&kind| services::prepare(kind, &config))
        .collect::<anyhow::Result<Vec<_>>>()?;
    run_with(config, startups, listener, shutdown).await
}

/// [`run`] with the services' startups already prepared.
pub async fn run_with(
    config: Config,
    startups: Vec<Startup>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (reporter, health_service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", ServingStatus::NotServing)
        .await;
    let kinds: Vec<ServiceKind> = startups.iter().map(|s| s.kind).collect();
    for kind in kinds {
        for name in kind.grpc_services() {
            reporter
                .set_service_status(*name, ServingStatus::NotServing)
                .await;
        }
    }

    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(parla_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(parla_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let mut routes = tonic::service::RoutesBuilder::default();
    routes
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha);
    let startups: Vec<Startup> = startups
        .into_iter()
        .map(|mut startup| {
            let register = std::mem::replace(&mut startup.register, Box::new(|_| {}));
            register(&mut routes);
            startup
        })
        .collect();

    let addr = listener.local_addr()?;
    // Scripts and tests that listen on port 0 read the port from this line.
    println!("listening on http://{addr}");
    tracing::info!(
        %addr,
        services = %config.services.iter().map(|s| s.name()).collect::<Vec<_>>().join(","),
        "parla listening"
    );
    log_peers(&config, addr);
    let service_token = services::service_token(&config)?;
    if service_token.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "listening beyond this machine without `security.service_token`: anyone who reaches \
             the port can call the internal rpcs (customer record, dialogue, hand-off queue)"
        );
    }
    let draining = Arc::new(AtomicBool::new(false));
    let loads = tokio::spawn(load_all(startups, reporter.clone(), Arc::clone(&draining)));

    let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
    let signal_reporter = reporter.clone();
    let on_shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: no new calls, draining open streams");
        draining.store(true, Ordering::SeqCst);
        set_all(&signal_reporter, ServingStatus::NotServing).await;
        let _ = drain_tx.send(());
    };

    let server = Server::builder()
        .accept_http1(true)
        .layer(tower::util::option_layer(cors_layer(&config)?))
        // The chat widget and the agent console (plain GETs, before gRPC-web).
        .layer(tower::util::option_layer(
            config.services.contains(&ServiceKind::Gateway).then(|| {
                parla_gateway::chat::assets::WebAssetsLayer::new(
                    parla_gateway::chat::assets::WebAssets::load(&config.gateway.chat.web_dir),
                )
            }),
        ))
        .layer(tonic_web::GrpcWebLayer::new())
        // Internal RPCs need `x-parla-service-token` when a token is set (src/access.rs).
        .layer(tower::util::option_layer(
            service_token.map(crate::access::ServiceTokenLayer::new),
        ))
        // A request that is not valid Protobuf is the client's error (src/unreadable.rs).
        .layer(crate::unreadable::UnreadableLayer)
        .add_routes(routes.routes())
        // Small gRPC frames (a reply's first words, a CRM answer) must leave at once: with
        // Nagle's algorithm each waited for the peer's delayed ACK, 40 ms per exchange.
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            on_shutdown,
        );

    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let deadline = async move {
        if drain_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result?,
        () = deadline => tracing::warn!(grace_secs = grace.as_secs(), "streams still open after the grace period; closing them"),
    }
    loads.abort();
    tracing::info!("parla stopped");
    Ok(())
}

/// Runs each service's load on a blocking thread and reports it SERVING
/// when done; a failed load is logged and its service stays NOT_SERVING.
/// A loaded service with a probe is then watched (see [`watch_probe`]).
async fn load_all(startups: Vec<Startup>, reporter: HealthReporter, draining: Arc<AtomicBool>) {
    let mut all_ok = true;
    let health = Arc::new(Health {
        unhealthy: AtomicUsize::new(0),
        loaded: AtomicBool::new(false),
        draining,
    });
    let tasks: Vec<_> = startups
        .into_iter()
        .map(|startup| {
            let reporter = reporter.clone();
            let health = Arc::clone(&health);
            tokio::spawn(async move {
                let kind = startup.kind;
                let started = Instant::now();
                match tokio::task::spawn_blocking(startup.load).await {
                    Ok(Ok(())) => {
                        for name in kind.grpc_services() {
                            reporter.set_service_status(*name, ServingStatus::Serving).await;
                        }
                        tracing::info!(service = %kind, load_ms = started.elapsed().as_millis() as u64, "service ready");
                        if let Some(probe) = startup.probe {
                            tokio::spawn(watch_probe(kind, probe, reporter, health));
                        }
                        true
                    }
                    Ok(Err(e)) => {
                        tracing::error!(service = %kind, error = %format!("{e:#}"), "service failed to load; it stays NOT_SERVING");
                        false
                    }
                    Err(e) => {
                        tracing::error!(service = %kind, error = %e, "service load panicked; it stays NOT_SERVING");
                        false
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        all_ok &= task.await.unwrap_or(false);
    }
    if all_ok {
        health.loaded.store(true, Ordering::SeqCst);
        if health.unhealthy.load(Ordering::SeqCst) == 0 {
            reporter
                .set_service_status("", ServingStatus::Serving)
                .await;
        }
        tracing::info!("all services ready");
    }
}

/// What the health of the whole server (`""`) depends on after the loads.
struct Health {
    /// Loaded services whose probe says they cannot serve now.
    unhealthy: AtomicUsize,
    /// Every service loaded.
    loaded: AtomicBool,
    /// Shutting down: statuses stay NOT_SERVING.
    draining: Arc<AtomicBool>,
}

/// How often a loaded service's probe is asked.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Asks `probe` each second and reports the service (and the server)
/// NOT_SERVING while it says no, SERVING again when it says yes.
async fn watch_probe(
    kind: ServiceKind,
    probe: services::Probe,
    reporter: HealthReporter,
    health: Arc<Health>,
) {
    let mut healthy = true;
    loop {
        tokio::time::sleep(PROBE_EVERY).await;
        if health.draining.load(Ordering::SeqCst) {
            return;
        }
        let now = probe();
        if now == healthy {
            continue;
        }
        healthy = now;
        let status = if now {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        for name in kind.grpc_services() {
            reporter.set_service_status(*name, status).await;
        }
        let unhealthy = if now {
            health.unhealthy.fetch_sub(1, Ordering::SeqCst) - 1
        } else {
            health.unhealthy.fetch_add(1, Ordering::SeqCst) + 1
        };
        if unhealthy == 0 && health.loaded.load(Ordering::SeqCst) {
            reporter
                .set_service_status("", ServingStatus::Serving)
                .await;
        } else if !now {
            reporter
                .set_service_status("", ServingStatus::NotServing)
                .await;
        }
        if now {
            tracing::info!(service = %kind, "service recovered; SERVING");
        } else {
            tracing::warn!(service = %kind, "service cannot serve now; NOT_SERVING until it recovers");
        }
    }
}

async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    reporter.set_service_status("", status).await;
    for kind in ServiceKind::ALL {
        for name in kind.grpc_services() {
            reporter.set_service_status(*name, status).await;
        }
    }
}

/// Logs where services this process does not run are reached.
fn log_peers(config: &Config, own: std::net::SocketAddr) {
    for kind in ServiceKind::ALL {
        if !config.services.contains(&kind) {
            if let Some(url) = services::endpoint_url(config, kind, own) {
                tracing::info!(service = %kind, %url, "remote service");
            }
        }
    }
}

/// CORS for browsers calling gRPC-web from other origins; `None` when no
/// origin is allowed (same-origin pages still work).
fn cors_layer(config: &Config) -> anyhow::Result<Option<CorsLayer>> {
    let origins = &config.cors_allowed_origins;
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o).map_err(|_| {
                    anyhow::anyhow!("invalid configuration: `cors_allowed_origins` holds {o:?}, which is not a valid origin")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        AllowOrigin::list(values)
    };
    let headers = [
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
        "authorization",
    ]
    .map(http::HeaderName::from_static);
    let exposed = ["grpc-status", "grpc-message", "grpc-status-details-bin"]
        .map(http::HeaderName::from_static);
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([http::Method::POST, http::Method::OPTIONS])
            .allow_headers(headers)
            .expose_headers(exposed)
            .max_age(Duration::from_secs(3600)),
    ))
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(term) => term,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
