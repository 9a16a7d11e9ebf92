//! `parla test-flows DIR`: runs conversation test cases against the real dialogue manager. The
//! command starts the CRM (a temporary SQLite database seeded with the demo data), the hand-off
//! queue and the dialogue in this process on 127.0.0.1:0, plays each case over gRPC, collects
//! tool calls from `Events.Subscribe`, and prints pass/fail per case. When DIR holds flow files
//! and a `tests/` directory, those flows are tested with the cases in `tests/`; otherwise DIR
//! holds cases and the configured flows are tested.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use parla_flows::cases::{self, Case, Observed};
use parla_proto::v1 as pb;
use parla_proto::v1::converse_request::Request as In;
use parla_proto::v1::dialogue_client::DialogueClient;
use parla_proto::v1::events_client::EventsClient;
use parla_proto::v1::reply_event::Event;
use parla_proto::{PeerChannel, ServiceToken};
use tokio_stream::wrappers::ReceiverStream;

use crate::config::Config;
use crate::services::ServiceKind;

/// Where the flows and the cases are.
fn layout(dir: &Path) -> (Option<PathBuf>, PathBuf) {
    let tests = dir.join("tests");
    let has_flows = std::fs::read_dir(dir)
        .map(|entries| {
            entries.filter_map(Result::ok).any(|e| {
                e.path().is_file()
                    && e.path()
                        .extension()
                        .is_some_and(|x| x == "yaml" || x == "yml")
            })
        })
        .unwrap_or(false);
    if tests.is_dir() && has_flows {
        (Some(dir.to_owned()), tests)
    } else {
        (None, dir.to_owned())
    }
}

/// Runs the cases; `Ok(true)` when every case passed.
pub fn run(mut config: Config, dir: &Path) -> anyhow::Result<bool> {
    let (flows_dir, cases_dir) = layout(dir);
    let suite = cases::load_dir(&cases_dir)?;
    if let Some(f) = flows_dir {
        config.flows.dir = f.display().to_string();
    }
    if let Some(t) = &suite.today {
        config.flows.today = t.clone();
    }
    if let Some(w) = suite.weather {
        config.flows.weather.provider = w;
    }
    let data = std::env::temp_dir().join(format!("parla-test-flows-{}", std::process::id()));
    std::fs::create_dir_all(&data)?;
    config.crm.data_dir = data.clone();
    config.crm.database_url = String::new();
    config.handoff.database_path = PathBuf::new();
    config.services = vec![
        ServiceKind::Crm,
        ServiceKind::Handoff,
        ServiceKind::Dialogue,
    ];
    config.listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let seeded = parla_crm::seed::seed_command(&config.crm, &[], &config.flows.today)?;
    tracing::info!(%seeded, "test-flows: crm seeded");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let url = format!("http://{}", listener.local_addr()?);
        // The in-process server checks the configured service token; the cases present it.
        let token = crate::services::service_token(&config)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(crate::serve::run(config, listener, async {
            let _ = stopped.await;
        }));
        let outcome = play_all(&url, token.as_ref(), &suite.cases).await;
        let _ = stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        outcome
    });
    let _ = std::fs::remove_dir_all(&data);
    result
}

async fn play_all(
    url: &str,
    token: Option<&ServiceToken>,
    cases: &[(String, Case)],
) -> anyhow::Result<bool> {
    let channel = PeerChannel::lazy(url, token)?;
    wait_ready(channel.clone()).await?;
    let mut failed = 0;
    for (i, (file, case)) in cases.iter().enumerate() {
        let started = Instant::now();
        let fails = play(channel.clone(), i, case).await?;
        let ms = started.elapsed().as_millis();
        if fails.is_empty() {
            println!("PASS  {}  ({file}, {ms} ms)", case.name);
        } else {
            failed += 1;
            println!("FAIL  {}  ({file}, {ms} ms)", case.name);
            for f in fails {
                println!("      {f}");
            }
        }
    }
    println!("{} passed, {failed} failed", cases.len() - failed);
    Ok(failed == 0)
}

async fn wait_ready(channel: PeerChannel) -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let started = Instant::now();
    loop {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest::default())
            .await
            .map(|r| r.into_inner().status)
            .unwrap_or(ServingStatus::Unknown as i32);
        if status == ServingStatus::Serving as i32 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "the dialogue did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Plays one case; the failures, each prefixed with its turn.
async fn play(channel: PeerChannel, n: usize, case: &Case) -> anyhow::Result<Vec<String>> {
    let id = format!("test-flows-{n}-{}", std::process::id());
    let mut events = EventsClient::new(channel.clone())
        .subscribe(pb::SubscribeRequest {
            types: vec![pb::EventType::ToolCall as i32, pb::EventType::Turn as i32],
            conversation_id: id.clone(),
        })
        .await?
        .into_inner();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let voice = case.channel.eq_ignore_ascii_case("voice");
    tx.send(pb::ConverseRequest {
        request: Some(In::Start(pb::ConversationStart {
            conversation_id: id.clone(),
            channel: if voice {
                pb::Channel::Voice
            } else {
                pb::Channel::Chat
            } as i32,
            language: case.language.clone(),
            customer: case.customer.as_ref().and_then(|c| c.hint()),
        })),
    })
    .await?;
    let mut replies = DialogueClient::new(channel)
        .converse(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut fails = Vec::new();
    for (t, turn) in case.turns.iter().enumerate() {
        tx.send(pb::ConverseRequest {
            request: Some(In::Turn(pb::Turn {
                text: turn.say.clone(),
                language: case.language.clone(),
                ..Default::default()
            })),
        })
        .await?;
        let reply = loop {
            match replies.message().await? {
                Some(pb::ReplyEvent {
                    event: Some(Event::Final(f)),
                }) => break f,
                Some(_) => {}
                None => anyhow::bail!("case {}: the conversation ended early", case.name),
            }
        };
        let mut seen = Observed {
            reply,
            tool_calls: Vec::new(),
        };
        // Events of a turn are published before its final reply; the TURN event closes them.
        while let Ok(Some(e)) =
            tokio::time::timeout(Duration::from_secs(10), events.message()).await?
        {
            if e.r#type == pb::EventType::ToolCall as i32 {
                seen.tool_calls.extend(e.tool_call);
            } else if e.turn_index == seen.reply.turn_index {
                break;
            }
        }
        for f in cases::check(&turn.expect, &seen) {
            fails.push(format!("turn {} ({:?}): {f}", t + 1, turn.say));
        }
        if fails.is_empty() {
            continue;
        }
        fails.push(format!("      reply: {:?}", seen.reply.text));
        break;
    }
    Ok(fails)
}
