//! SIP over both transports the gateway answers on: UDP and TCP on the same
//! port. Real sockets against the real rsipstack endpoint: OPTIONS is
//! answered 200 and an INVITE offering no G.711 codec is refused 488 over
//! each transport; with `tcp = false` nothing listens on TCP. (A call that
//! gets past the SDP check needs the speech services: the root test
//! tests/sip.rs places one with baresip.)

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use parla_gateway::call::{Backends, CallConfig, CallMetrics, CallService};
use parla_gateway::sip::{self, SipConfig};
use parla_proto::PeerChannel;

/// A call service whose backends are never reached by these requests.
fn calls() -> CallService {
    let nowhere = || PeerChannel::lazy("http://127.0.0.1:9", None).expect("a valid url");
    let backends = Backends {
        asr: nowhere(),
        tts: nowhere(),
        dialogue: nowhere(),
    };
    CallService::new(
        backends,
        CallConfig::default(),
        Arc::new(CallMetrics::default()),
    )
}

async fn start(tcp: bool) -> anyhow::Result<SocketAddr> {
    let config = SipConfig {
        listen: "127.0.0.1:0".into(),
        tcp,
        ..SipConfig::default()
    };
    Ok(sip::start(config, calls(), None).await?)
}

fn request(method: &str, transport: &str, local: SocketAddr, to: SocketAddr, n: u32) -> String {
    let (body, content_type) = if method == "INVITE" {
        (
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio 40000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n",
            "Content-Type: application/sdp\r\n",
        )
    } else {
        ("", "")
    };
    format!(
        "{method} sip:parla@{to} SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{transport}-{n}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:tester@127.0.0.1>;tag=t{n}\r\n\
         To: <sip:parla@{to}>\r\n\
         Call-ID: transports-{transport}-{n}@127.0.0.1\r\n\
         CSeq: 1 {method}\r\n\
         Contact: <sip:tester@{local};transport={}>\r\n\
         {content_type}Content-Length: {}\r\n\r\n{body}",
        transport.to_ascii_lowercase(),
        body.len()
    )
}

/// The first final (non-100) status line in `text`, if any.
fn final_status(text: &str) -> Option<String> {
    text.lines()
        .filter(|l| l.starts_with("SIP/2.0 "))
        .find(|l| !l.starts_with("SIP/2.0 100"))
        .map(str::to_owned)
}

/// Sends `method` over TCP and returns the final status line.
fn over_tcp(to: SocketAddr, method: &str, n: u32) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(to)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let local = stream.local_addr()?;
    stream.write_all(request(method, "TCP", local, to, n).as_bytes())?;
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = stream.read(&mut buf)?;
        anyhow::ensure!(read > 0, "connection closed; received {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..read]));
        if let Some(status) = final_status(&seen) {
            return Ok(status);
        }
    }
}

/// Sends `method` over UDP and returns the final status line.
fn over_udp(to: SocketAddr, method: &str, n: u32) -> anyhow::Result<String> {
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.set_read_timeout(Some(Duration::from_secs(10)))?;
    let local = socket.local_addr()?;
    socket.send_to(request(method, "UDP", local, to, n).as_bytes(), to)?;
    let mut buf = [0u8; 4096];
    loop {
        let (read, _) = socket.recv_from(&mut buf)?;
        if let Some(status) = final_status(&String::from_utf8_lossy(&buf[..read])) {
            return Ok(status);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_and_a_refused_invite_over_udp_and_tcp() -> anyhow::Result<()> {
    let addr = start(true).await?;
    // The TCP listener starts with the endpoint: give it a moment.
    let mut connected = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).is_ok() {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(connected, "nothing listens on tcp {addr}");
    let checks = tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let status = over_tcp(addr, "OPTIONS", 1)?;
        assert!(status.starts_with("SIP/2.0 200"), "tcp OPTIONS: {status}");
        let status = over_tcp(addr, "INVITE", 2)?;
        assert!(status.starts_with("SIP/2.0 488"), "tcp INVITE: {status}");
        let status = over_udp(addr, "OPTIONS", 3)?;
        assert!(status.starts_with("SIP/2.0 200"), "udp OPTIONS: {status}");
        let status = over_udp(addr, "INVITE", 4)?;
        assert!(status.starts_with("SIP/2.0 488"), "udp INVITE: {status}");
        Ok(())
    });
    checks.await?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_off_listens_on_udp_only() -> anyhow::Result<()> {
    let addr = start(false).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(TcpStream::connect(addr).is_err(), "tcp answered at {addr}");
    let status = tokio::task::spawn_blocking(move || over_udp(addr, "OPTIONS", 5)).await??;
    assert!(status.starts_with("SIP/2.0 200"), "udp OPTIONS: {status}");
    Ok(())
}
