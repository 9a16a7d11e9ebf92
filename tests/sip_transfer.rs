//! Transfers of a phone call to a person, with real phones on both sides:
//! baresip (Debian `baresip-core`) calls Parla as the seeded customer
//! Giulia Rossi and asks for a person; Parla hands off and REFERs her phone
//! to the agents' line, where a second baresip is the agent's phone. Three
//! agents' lines, one after the other on the same server:
//!
//! - **up**: the agent's phone answers by itself. Giulia's phone calls it
//!   and reports success; Parla asks for no call-back.
//! - **busy**: the agent's phone rejects the call (486 Busy Here).
//! - **down**: nothing listens on the agents' line.
//!
//! In the last two Giulia must not be left in silence: Parla comes back on
//! her line, says it could not reach a colleague and that one will call
//! her back (heard in her recording, transcribed by Parla's own ASR), and
//! the ticket carries a call-back note with her number.

mod common;
mod voice;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::phone::{baresip_conf, free_tcp_port, free_udp_port, require_baresip};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use parla_gateway::call::{client, Format};
use parla_proto::v1 as pb;
use parla_proto::v1::handoff_client::HandoffClient;
use voice::{seeded_server, GIULIA};

/// The agent's phone on `port`, running for `seconds`.
fn agent_phone(
    dir: &Path,
    port: u16,
    ctrl: u16,
    answermode: &str,
    seconds: u64,
) -> anyhow::Result<Child> {
    let greeting = dir.join("agent.wav");
    // baresip hangs up when its source ends: the agent stays silent on the
    // line for as long as the phone runs.
    client::write_wav(&greeting, 8000, &vec![0i16; 8000 * seconds as usize])?;
    let conf = baresip_conf(
        dir,
        "agents",
        port,
        ctrl,
        &greeting,
        &dir.join("agent-records"),
        answermode,
    )?;
    Ok(Command::new("baresip")
        .arg("-f")
        .arg(&conf)
        .args(["-n", "127.0.0.1", "-t", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?)
}

/// Rejects every call ringing on the agent's phone (its `hangup` command
/// over ctrl_tcp, which answers a ringing call with 486 Busy Here), until
/// `stop` is set.
fn keep_rejecting(ctrl: u16, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    std::thread::spawn(move || {
        let command = r#"{"command":"hangup","params":"","token":"busy"}"#;
        let message = format!("{}:{},", command.len(), command);
        while !stop.load(Ordering::Relaxed) {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", ctrl)) {
                while !stop.load(Ordering::Relaxed) && s.write_all(message.as_bytes()).is_ok() {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
}

/// What Giulia's phone heard on Parla's line, and its log.
struct Heard {
    /// Parla's side of the call, transcribed.
    text: String,
    log: String,
}

/// Giulia calls Parla, asks for a person and listens for `listen_secs`.
async fn giulia_asks_for_a_person(
    server: &common::ParlaServer,
    dir: &Path,
    sip_port: u16,
    listen_secs: usize,
) -> anyhow::Result<Heard> {
    let format = Format::from_pb(Some(&pb::AudioFormat {
        encoding: pb::AudioEncoding::Pcm16le as i32,
        sample_rate_hz: 8000,
    }))?;
    let question = client::synthesize(
        server.peer().await?,
        "I would like to speak to a person, please.",
        "espeak-en-f",
        format,
        0,
    )
    .await?;
    let mut samples = vec![0i16; 8000 * 5];
    samples.extend(
        question
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]])),
    );
    samples.extend(std::iter::repeat_n(0i16, 8000 * listen_secs));
    let prompt = dir.join("prompt.wav");
    client::write_wav(&prompt, 8000, &samples)?;
    let records = dir.join("giulia-records");
    let conf = baresip_conf(
        dir,
        GIULIA,
        free_udp_port()?,
        free_tcp_port()?,
        &prompt,
        &records,
        "manual",
    )?;
    let seconds = 5 + question.len() as u64 / 16000 + listen_secs as u64 + 3;
    let out = tokio::task::spawn_blocking(move || {
        Command::new("baresip")
            .arg("-f")
            .arg(&conf)
            .args(["-n", "127.0.0.1", "-e"])
            .arg(format!("/dial sip:parla@127.0.0.1:{sip_port}"))
            .args(["-t", &seconds.to_string()])
            .output()
    })
    .await??;
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    // The first recording is her call with Parla (a transfer adds one).
    let mut decoded: Vec<PathBuf> = std::fs::read_dir(&records)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .collect();
    decoded.sort();
    let first = decoded
        .first()
        .ok_or_else(|| anyhow::anyhow!("giulia's phone recorded nothing; its log:\n{log}"))?;
    let wav = std::fs::read(first)?;
    let mut asr = pb::asr_client::AsrClient::new(server.channel().await?);
    let text = asr
        .recognize(pb::RecognizeRequest {
            audio: Some(pb::recognize_request::Audio::Wav(wav)),
            language: "en".into(),
        })
        .await?
        .into_inner()
        .text;
    Ok(Heard { text, log })
}

/// Parla's notes on the newest ticket.
async fn newest_ticket_notes(server: &common::ParlaServer) -> anyhow::Result<Vec<String>> {
    let mut handoff = HandoffClient::new(server.channel().await?);
    let tickets = handoff
        .list_tickets(pb::ListTicketsRequest::default())
        .await?
        .into_inner()
        .tickets;
    let newest = tickets
        .iter()
        .max_by_key(|t| t.created_at.as_ref().map(|c| (c.seconds, c.nanos)))
        .ok_or_else(|| anyhow::anyhow!("no ticket: Parla did not hand off"))?;
    let detail = handoff
        .get_ticket(pb::GetTicketRequest {
            ticket_id: newest.id.clone(),
        })
        .await?
        .into_inner();
    Ok(detail
        .messages
        .into_iter()
        .filter(|m| m.speaker == "parla")
        .map(|m| m.text)
        .collect())
}

#[tokio::test]
async fn a_caller_reaches_the_agent_or_stays_with_parla_and_is_called_back() -> anyhow::Result<()> {
    require_baresip();
    let sip_port = free_udp_port()?;
    let agent_port = free_udp_port()?;
    let listen = format!("127.0.0.1:{sip_port}");
    let agents = format!("sip:agents@127.0.0.1:{agent_port}");
    let (server, _data) = seeded_server(&[
        ("PARLA_GATEWAY__SIP__LISTEN", &listen),
        ("PARLA_GATEWAY__SIP__TRANSFER_URI", &agents),
        ("PARLA_GATEWAY__SIP__TRANSFER_TIMEOUT_SECS", "6"),
        // Lists the queue as a tool would, without an agent session.
        ("PARLA_HANDOFF__REQUIRE_AGENT_LOGIN", "false"),
    ])
    .await?;

    // Up: the agent's phone answers, and Giulia's phone reaches it.
    let dir = tempfile::tempdir()?;
    let agent = agent_phone(dir.path(), agent_port, free_tcp_port()?, "auto", 45)?;
    let heard = giulia_asks_for_a_person(&server, dir.path(), sip_port, 20).await?;
    let agent_log = agent.wait_with_output()?;
    let agent_log = String::from_utf8_lossy(&agent_log.stdout).into_owned();
    println!("up: giulia heard {:?}", heard.text);
    assert!(
        heard.log.contains("transferring call"),
        "Parla did not transfer the call; giulia's phone:\n{}",
        heard.log
    );
    assert!(
        agent_log.contains("Call established"),
        "the agent's phone never got the caller; its log:\n{agent_log}\ngiulia's phone:\n{}",
        heard.log
    );
    let notes = newest_ticket_notes(&server).await?;
    assert!(
        notes.is_empty(),
        "a call-back asked for a connected transfer: {notes:?}"
    );

    // Busy: the agent's phone rejects the call; Giulia stays with Parla.
    let dir = tempfile::tempdir()?;
    let ctrl = free_tcp_port()?;
    let mut agent = agent_phone(dir.path(), agent_port, ctrl, "manual", 60)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    keep_rejecting(ctrl, stop.clone());
    let heard = giulia_asks_for_a_person(&server, dir.path(), sip_port, 34).await?;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = agent.kill();
    let _ = agent.wait();
    println!("busy: giulia heard {:?}", heard.text);
    assert_taken_back(&heard, &newest_ticket_notes(&server).await?, "busy");

    // Down: nothing answers on the agents' line.
    let dir = tempfile::tempdir()?;
    let heard = giulia_asks_for_a_person(&server, dir.path(), sip_port, 34).await?;
    println!("down: giulia heard {:?}", heard.text);
    assert_taken_back(&heard, &newest_ticket_notes(&server).await?, "down");
    Ok(())
}

/// Giulia heard Parla come back and promise a call-back, and the ticket
/// asks a person to call her number.
fn assert_taken_back(heard: &Heard, notes: &[String], case: &str) {
    let text = heard.text.to_lowercase();
    assert!(
        text.contains("call you back") || text.contains("couldn't reach"),
        "{case}: giulia was not told the transfer failed; she heard {:?}; her phone:\n{}",
        heard.text,
        heard.log
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("call the customer back on") && n.contains(GIULIA)),
        "{case}: no call-back note with her number on the ticket: {notes:?}"
    );
}
