//! Readiness: a service reports NOT_SERVING while its models load and
//! SERVING once they have. The slow load is a test double (a load that
//! waits for the test's signal), the one fault a real model cannot be made
//! to show on demand.

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
    }];
    let config = Config {
        services: vec![ServiceKind::Tts],
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(parla::serve::run_with(config, startups, listener, async {
        let _ = stopped.await;
    }));

    let mut health = HealthClient::new(parla::demo::connect(&url, Duration::from_secs(10)).await?);
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
