//! `parla serve` seen from a client: health per service, reflection,
//! gRPC-web over HTTP/1.1, a subset of services, and graceful shutdown.

mod common;

use std::time::{Duration, Instant};

use bytes::{Buf, Bytes};
use common::ParlaServer;
use http_body_util::{BodyExt, Full};
use prost::Message;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

const PARLA_SERVICES: [&str; 7] = [
    "parla.v1.Asr",
    "parla.v1.Tts",
    "parla.v1.Dialogue",
    "parla.v1.Crm",
    "parla.v1.Handoff",
    "parla.v1.Conversation",
    "parla.v1.Chat",
];

#[tokio::test]
async fn health_reports_every_service_and_reflection_lists_them() -> anyhow::Result<()> {
    let server = ParlaServer::start(&[], &[])?;
    server.wait_ready(Duration::from_secs(120)).await?;
    let mut health = HealthClient::new(server.channel().await?);
    for service in PARLA_SERVICES {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await?
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    let listed = parla::demo::list_services(server.peer().await?).await?;
    for service in PARLA_SERVICES {
        assert!(
            listed.iter().any(|s| s == service),
            "{service} not in {listed:?}"
        );
    }
    assert!(
        listed.iter().any(|s| s == "grpc.health.v1.Health"),
        "{listed:?}"
    );
    Ok(())
}

/// Frames one gRPC-web message: flag byte, big-endian length, payload.
fn grpc_web_frame(flag: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![flag];
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test]
async fn grpc_web_over_http1_reaches_the_health_service() -> anyhow::Result<()> {
    let server = ParlaServer::start(&[], &[])?;
    server.wait_ready(Duration::from_secs(120)).await?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let request_body = HealthCheckRequest {
        service: "parla.v1.Chat".to_owned(),
    }
    .encode_to_vec();
    let request = http::Request::post(format!("{}/grpc.health.v1.Health/Check", server.url))
        .version(http::Version::HTTP_11)
        .header("content-type", "application/grpc-web+proto")
        .header("x-grpc-web", "1")
        .body(Full::new(Bytes::from(grpc_web_frame(0, &request_body))))?;
    let response = client.request(request).await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_11);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("")),
        Some("application/grpc-web+proto")
    );
    let mut body = response.into_body().collect().await?.to_bytes();
    let mut message = None;
    let mut trailers = String::new();
    while body.remaining() >= 5 {
        let flag = body.get_u8();
        let len = body.get_u32() as usize;
        let payload = body.split_to(len);
        if flag & 0x80 == 0 {
            message = Some(HealthCheckResponse::decode(payload)?);
        } else {
            trailers = String::from_utf8(payload.to_vec())?;
        }
    }
    let message = message.ok_or_else(|| anyhow::anyhow!("no message frame"))?;
    assert_eq!(message.status, ServingStatus::Serving as i32);
    assert!(trailers.contains("grpc-status:0"), "trailers: {trailers:?}");
    Ok(())
}

#[tokio::test]
async fn only_runs_a_subset_and_reports_only_those() -> anyhow::Result<()> {
    let server = ParlaServer::start(&["--only", "tts,crm"], &[])?;
    server.wait_ready(Duration::from_secs(60)).await?;
    let mut health = HealthClient::new(server.channel().await?);
    for service in ["parla.v1.Tts", "parla.v1.Crm"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await?
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    let absent = health
        .check(HealthCheckRequest {
            service: "parla.v1.Asr".to_owned(),
        })
        .await
        .expect_err("asr is not run by this process");
    assert_eq!(absent.code(), tonic::Code::NotFound);
    Ok(())
}

#[test]
fn a_subset_that_needs_an_absent_service_names_the_missing_url() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let output = common::parla(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--only", "dialogue"])
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`remote.crm`"), "{stderr}");

    let output = common::parla(dir.path())
        .args(["config"])
        .env("PARLA_SERVICES", "dialogue")
        .env("PARLA_REMOTE__CRM", "http://10.1.2.3:50051")
        .env("PARLA_REMOTE__HANDOFF", "http://10.1.2.4:50051")
        .output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("crm = \"http://10.1.2.3:50051\""),
        "{printed}"
    );
    Ok(())
}

#[tokio::test]
async fn sigterm_reports_not_serving_and_exits_cleanly() -> anyhow::Result<()> {
    let mut server = ParlaServer::start(&[], &[("PARLA_SHUTDOWN_GRACE_SECS", "2")])?;
    server.wait_ready(Duration::from_secs(120)).await?;
    let mut health = HealthClient::new(server.channel().await?);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "parla.v1.Dialogue".to_owned(),
        })
        .await?
        .into_inner();
    let first = watch
        .message()
        .await?
        .ok_or_else(|| anyhow::anyhow!("watch ended"))?;
    assert_eq!(first.status, ServingStatus::Serving as i32);

    let pid = nix::unistd::Pid::from_raw(server.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM)?;
    let next = tokio::time::timeout(Duration::from_secs(5), watch.message())
        .await?
        .ok()
        .flatten();
    // The open Watch stream sees NOT_SERVING before the server goes away.
    assert_eq!(
        next.map(|m| m.status),
        Some(ServingStatus::NotServing as i32)
    );

    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait()? {
            break status;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(15),
            "server did not exit"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    Ok(())
}

#[test]
fn a_taken_sip_port_stops_the_server_from_starting() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let taken = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let listen = taken.local_addr()?.to_string();
    let mut child = common::parla(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--only", "gateway"])
        .env("PARLA_GATEWAY__SIP__LISTEN", &listen)
        .env("PARLA_REMOTE__ASR", "http://127.0.0.1:9")
        .env("PARLA_REMOTE__TTS", "http://127.0.0.1:9")
        .env("PARLA_REMOTE__DIALOGUE", "http://127.0.0.1:9")
        .env("PARLA_REMOTE__CRM", "http://127.0.0.1:9")
        .env("PARLA_REMOTE__HANDOFF", "http://127.0.0.1:9")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the server kept running with its SIP port taken");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        std::io::Read::read_to_string(&mut e, &mut stderr)?;
    }
    assert!(!status.success(), "started on a taken port: {stderr}");
    assert!(
        stderr.contains("gateway.sip.listen") && stderr.contains(&listen),
        "{stderr}"
    );
    drop(taken);
    Ok(())
}

#[test]
fn a_missing_model_names_the_command_that_fetches_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let output = common::parla(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PARLA_CACHE", dir.path().join("empty-cache"))
        .output()?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("parla models fetch whisper-tiny-en"),
        "{stderr}"
    );
    Ok(())
}
