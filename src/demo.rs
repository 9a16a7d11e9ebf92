//! `parla demo`: a short tour of a running server through its public API.
//! It waits until the server reports every service ready, lists the
//! services that reflection announces and the health of each, then places a
//! scripted phone call (`Conversation.Call`): a caller, synthesized by
//! Parla's own TTS, returns a jacket; the conversation is printed with
//! per-turn timings and the agent's audio is written to a WAV file.
//! Reflection and speech synthesis are internal RPCs: the demo presents
//! `security.service_token` when one is configured.

use std::time::{Duration, Instant};

use parla_proto::{PeerChannel, ServiceToken};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

/// Connects to `server` (presenting `token`, if any), waits up to
/// `wait_secs` for readiness, prints the services and their health, then
/// runs the scripted call, writing the agent's audio to `wav`.
pub async fn run(
    server: &str,
    wait_secs: u64,
    wav: &std::path::Path,
    token: Option<&ServiceToken>,
) -> anyhow::Result<()> {
    let channel = PeerChannel::new(
        connect(server, Duration::from_secs(wait_secs)).await?,
        token,
    );
    println!("parla at {server}");
    let mut health = HealthClient::new(channel.clone());
    wait_ready(&mut health, Duration::from_secs(wait_secs)).await?;
    let services = list_services(channel.clone()).await?;
    println!("{:<38} health", "service");
    for service in &services {
        let status = match health
            .check(HealthCheckRequest {
                service: service.clone(),
            })
            .await
        {
            Ok(r) => status_name(r.into_inner().status),
            Err(s) if s.code() == tonic::Code::NotFound => "-",
            Err(s) => return Err(s.into()),
        };
        println!("{service:<38} {status}");
    }
    println!();
    crate::demo_call::run(channel, wav).await
}

/// Opens a channel, retrying while the server is still starting.
pub async fn connect(server: &str, within: Duration) -> anyhow::Result<Channel> {
    let endpoint = Channel::from_shared(server.to_owned())?;
    let started = Instant::now();
    loop {
        match endpoint.connect().await {
            Ok(channel) => return Ok(channel),
            Err(e) if started.elapsed() < within => {
                tracing::debug!(error = %e, "server not reachable yet");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => anyhow::bail!("cannot reach {server}: {e}; is `parla serve` running?"),
        }
    }
}

/// Waits until the overall health is SERVING, printing progress.
async fn wait_ready(
    health: &mut HealthClient<PeerChannel>,
    within: Duration,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut said = false;
    loop {
        let status = health
            .check(HealthCheckRequest::default())
            .await?
            .into_inner()
            .status;
        if status == ServingStatus::Serving as i32 {
            return Ok(());
        }
        if started.elapsed() > within {
            anyhow::bail!(
                "the server did not become ready within {} s; see its log",
                within.as_secs()
            );
        }
        if !said {
            println!("waiting for the services to load their models...");
            said = true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Asks reflection for the names of every service the server offers.
pub async fn list_services(channel: PeerChannel) -> anyhow::Result<Vec<String>> {
    let mut client = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let mut names = Vec::new();
    while let Some(response) = responses.message().await? {
        if let Some(MessageResponse::ListServicesResponse(list)) = response.message_response {
            names.extend(list.service.into_iter().map(|s| s.name));
        }
    }
    names.sort();
    Ok(names)
}

fn status_name(status: i32) -> &'static str {
    match ServingStatus::try_from(status) {
        Ok(ServingStatus::Serving) => "SERVING",
        Ok(ServingStatus::NotServing) => "NOT_SERVING",
        Ok(ServingStatus::ServiceUnknown) => "SERVICE_UNKNOWN",
        _ => "UNKNOWN",
    }
}
