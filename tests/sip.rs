//! A real phone call over SIP/RTP: baresip (Debian `baresip-core`) calls
//! Parla on 127.0.0.1 as the seeded customer Giulia Rossi, plays a WAV of
//! her asking about her order and records what it hears; Parla's own ASR
//! transcribes the recording, which must carry the order's status
//! ("delivered") from the CRM. A second INVITE that offers no G.711 codec
//! is refused with 488.

mod common;
mod voice;

use std::process::Command;
use std::time::Duration;

use common::phone::{baresip_conf, free_tcp_port, free_udp_port, require_baresip};
use parla_gateway::call::{client, Format};
use parla_proto::v1 as pb;
use voice::{seeded_server, GIULIA};

/// Sends a raw INVITE offering only Opus; returns the status line.
fn invite_without_g711(sip_port: u16) -> anyhow::Result<String> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let local = socket.local_addr()?;
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n";
    let invite = format!(
        "INVITE sip:parla@127.0.0.1:{sip_port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {local};branch=z9hG4bK-opus-1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@127.0.0.1>;tag=opus1\r\n\
         To: <sip:parla@127.0.0.1:{sip_port}>\r\n\
         Call-ID: opus-only-1@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:tester@{local}>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    socket.send_to(invite.as_bytes(), ("127.0.0.1", sip_port))?;
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = socket.recv_from(&mut buf)?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let status = text.lines().next().unwrap_or_default().to_owned();
        if !status.starts_with("SIP/2.0 100") {
            return Ok(status);
        }
    }
}

#[tokio::test]
async fn baresip_hears_the_order_status() -> anyhow::Result<()> {
    require_baresip();
    let sip_port = free_udp_port()?;
    let listen = format!("127.0.0.1:{sip_port}");
    let (server, _data) = seeded_server(&[("PARLA_GATEWAY__SIP__LISTEN", &listen)]).await?;

    // Bad input first: no supported codec.
    let status = invite_without_g711(sip_port)?;
    assert!(status.starts_with("SIP/2.0 488"), "{status}");

    // The caller's prompt: 8 kHz mono 16-bit, silence while Parla greets,
    // the question, then silence while she listens.
    let dir = tempfile::tempdir()?;
    let format = Format::from_pb(Some(&pb::AudioFormat {
        encoding: pb::AudioEncoding::Pcm16le as i32,
        sample_rate_hz: 8000,
    }))?;
    let question = client::synthesize(
        server.peer().await?,
        "Hello, can you tell me where my order is?",
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
    let listen_secs = 70;
    samples.extend(std::iter::repeat_n(0i16, 8000 * listen_secs));
    let prompt = dir.path().join("prompt.wav");
    client::write_wav(&prompt, 8000, &samples)?;

    let records = dir.path().join("records");
    let conf = baresip_conf(
        dir.path(),
        GIULIA,
        free_udp_port()?,
        free_tcp_port()?,
        &prompt,
        &records,
        "manual",
    )?;
    let seconds = 5 + question.len() as u64 / 16000 + listen_secs as u64 + 5;
    let out = tokio::task::spawn_blocking(move || {
        Command::new("baresip")
            .args(["-f"])
            .arg(&conf)
            .args(["-n", "127.0.0.1", "-e"])
            .arg(format!("/dial sip:parla@127.0.0.1:{sip_port}"))
            .args(["-t", &seconds.to_string()])
            .output()
    })
    .await??;
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    let heard = std::fs::read_dir(&records)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .ok_or_else(|| anyhow::anyhow!("baresip recorded nothing; its log:\n{log}"))?;
    let wav = std::fs::read(&heard)?;
    assert!(wav.len() > 8000 * 2 * 3, "only {} bytes heard", wav.len());
    let mut asr = pb::asr_client::AsrClient::new(server.channel().await?);
    let text = asr
        .recognize(pb::RecognizeRequest {
            audio: Some(pb::recognize_request::Audio::Wav(wav)),
            language: "en".into(),
        })
        .await?
        .into_inner()
        .text;
    println!("baresip heard: {text}");
    assert!(
        text.to_lowercase().contains("deliver"),
        "the caller heard {text:?}"
    );
    Ok(())
}
