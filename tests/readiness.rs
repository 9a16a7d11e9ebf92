//! Readiness: a service reports NOT_SERVING while its models load and
//! SERVING once they have. The slow load is a test double (a load that
//! waits for the test's signal), the one fault a real model cannot be made
//! to show on demand. After the load, a service's probe (the ASR
//! watchdog) takes it NOT_SERVING and back; here the probe is a flag the
//! test flips, standing in for a stuck recognizer.

use std::sync::mpsc;
use std::time::Duration;

use parla::config::Config;
use parla::services::{ServiceKind, Startup};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

async fn status(
    health: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> anyhow::Result<i32> {
    Ok(health
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?
        .into_inner()
        .status)
}

/// A server on 127.0.0.1:0 running `kind` with these startups: its health
/// client, the sender that stops it, and its task.
async fn serve(
    kind: ServiceKind,
    startups: Vec<Startup>,
) -> anyhow::Result<(
    HealthClient<tonic::transport::Channel>,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
)> {
    let config = Config {
        services: vec![kind],
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parla::serve::run_with(config, startups, listener, async {
        let _ = stopped.await;
    }));
    let health = HealthClient::new(parla::demo::connect(&url, Duration::from_secs(10)).await?);
    Ok((health, stop, server))
}

#[tokio::test]
async fn not_serving_until_the_models_have_loaded() -> anyhow::Result<()> {
    let (release, wait) = mpsc::channel::<()>();
    let startups = vec![Startup {
        kind: ServiceKind::Tts,
        load: Box::new(move || {
            wait.recv()?;
            Ok(())
        }),
        register: Box::new(|_| {}),
        probe: None,
    }];
    let (mut health, stop, server) = serve(ServiceKind::Tts, startups).await?;
    assert_eq!(
        status(&mut health, "parla.v1.Tts").await?,
        ServingStatus::NotServing as i32
    );
    assert_eq!(
        status(&mut health, "").await?,
        ServingStatus::NotServing as i32
    );

    release.send(())?;
    let mut serving = false;
    for _ in 0..100 {
        if status(&mut health, "parla.v1.Tts").await? == ServingStatus::Serving as i32 {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(serving, "tts never became SERVING after its load finished");
    assert_eq!(
        status(&mut health, "").await?,
        ServingStatus::Serving as i32
    );

    let _ = stop.send(());
    server.await??;
    Ok(())
}

/// Polls `service` until it reports `want` (up to 5 s).
async fn until(
    health: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
    want: ServingStatus,
) -> anyhow::Result<bool> {
    for _ in 0..100 {
        if status(health, service).await? == want as i32 {
            return Ok(true);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}

#[tokio::test]
async fn a_loaded_service_that_cannot_serve_is_not_serving_until_it_recovers() -> anyhow::Result<()>
{
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let healthy = Arc::new(AtomicBool::new(true));
    let probe_flag = Arc::clone(&healthy);
    let startups = vec![Startup {
        kind: ServiceKind::Asr,
        load: Box::new(|| Ok(())),
        register: Box::new(|_| {}),
        probe: Some(Arc::new(move || probe_flag.load(Ordering::SeqCst))),
    }];
    let (mut health, stop, server) = serve(ServiceKind::Asr, startups).await?;
    assert!(until(&mut health, "", ServingStatus::Serving).await?);

    healthy.store(false, Ordering::SeqCst);
    assert!(
        until(&mut health, "parla.v1.Asr", ServingStatus::NotServing).await?,
        "a service whose probe fails must report NOT_SERVING"
    );
    assert_eq!(
        status(&mut health, "").await?,
        ServingStatus::NotServing as i32
    );

    healthy.store(true, Ordering::SeqCst);
    assert!(
        until(&mut health, "parla.v1.Asr", ServingStatus::Serving).await?,
        "a recovered service must report SERVING again"
    );
    assert!(until(&mut health, "", ServingStatus::Serving).await?);

    let _ = stop.send(());
    server.await??;
    Ok(())
}
