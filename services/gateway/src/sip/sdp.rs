//! SDP offer/answer for G.711 calls (RFC 3264 subset): the offer's audio
//! address, payload types, RFC 4733 telephone-event and direction; the
//! answer picks PCMU or PCMA (none: the call is refused with 488).

use std::net::IpAddr;

/// The G.711 codec of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// mu-law, payload type 0.
    Pcmu,
    /// A-law, payload type 8.
    Pcma,
}

impl Codec {
    /// Static RTP payload type.
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

/// Media direction attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// The offerer only sends (puts us on hold).
    SendOnly,
    /// The offerer only receives.
    RecvOnly,
    /// No media (hold).
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction to answer with.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// What an offer asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Where to send RTP.
    pub addr: IpAddr,
    /// RTP port.
    pub port: u16,
    /// Chosen codec, if the offer has PCMU or PCMA.
    pub codec: Option<Codec>,
    /// Payload type of telephone-event (DTMF), if offered.
    pub dtmf: Option<u8>,
    /// Direction.
    pub direction: Direction,
}

impl Offer {
    /// True when the offerer puts the call on hold.
    pub fn on_hold(&self) -> bool {
        matches!(self.direction, Direction::SendOnly | Direction::Inactive)
            || self.addr.is_unspecified()
    }
}

/// Parses an SDP offer; `Err` names what is missing.
pub fn parse(sdp: &str) -> Result<Offer, String> {
    let mut session_addr = None;
    let mut media_addr = None;
    let mut port = None;
    let mut payloads: Vec<u8> = Vec::new();
    let mut rtpmap: Vec<(u8, String)> = Vec::new();
    let mut direction = Direction::SendRecv;
    let mut in_audio = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("c=") {
            let addr = rest
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse::<IpAddr>().ok())
                .ok_or_else(|| format!("bad connection line {line:?}"))?;
            if in_audio {
                media_addr = Some(addr);
            } else {
                session_addr = Some(addr);
            }
        } else if let Some(rest) = line.strip_prefix("m=") {
            let mut parts = rest.split_whitespace();
            in_audio = parts.next() == Some("audio");
            if in_audio && port.is_none() {
                port = parts.next().and_then(|p| p.parse::<u16>().ok());
                let _proto = parts.next();
                payloads = parts.filter_map(|p| p.parse().ok()).collect();
            }
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:") {
            if in_audio {
                let mut parts = rest.splitn(2, ' ');
                if let (Some(pt), Some(name)) = (parts.next(), parts.next()) {
                    if let Ok(pt) = pt.parse() {
                        rtpmap.push((pt, name.to_ascii_uppercase()));
                    }
                }
            }
        } else if in_audio || port.is_none() {
            direction = match line {
                "a=sendonly" => Direction::SendOnly,
                "a=recvonly" => Direction::RecvOnly,
                "a=inactive" => Direction::Inactive,
                "a=sendrecv" => Direction::SendRecv,
                _ => direction,
            };
        }
    }
    let port = port.ok_or("no audio media line")?;
    let addr = media_addr.or(session_addr).ok_or("no connection address")?;
    let named = |pt: u8, name: &str| rtpmap.iter().any(|(p, n)| *p == pt && n.starts_with(name));
    let codec = payloads.iter().find_map(|&pt| match pt {
        0 => Some(Codec::Pcmu),
        8 => Some(Codec::Pcma),
        pt if named(pt, "PCMU/8000") => Some(Codec::Pcmu),
        pt if named(pt, "PCMA/8000") => Some(Codec::Pcma),
        _ => None,
    });
    let dtmf = payloads
        .iter()
        .copied()
        .find(|&pt| named(pt, "TELEPHONE-EVENT/8000"));
    Ok(Offer {
        addr,
        port,
        codec,
        dtmf,
        direction,
    })
}

/// The answer: our address and RTP port, the chosen codec and DTMF.
pub fn answer(
    ip: IpAddr,
    port: u16,
    codec: Codec,
    dtmf: Option<u8>,
    direction: Direction,
    version: u32,
) -> String {
    let family = if ip.is_ipv6() { "IP6" } else { "IP4" };
    let mut pts = codec.payload_type().to_string();
    if let Some(d) = dtmf {
        pts.push_str(&format!(" {d}"));
    }
    let mut sdp = format!(
        "v=0\r\no=parla 1 {version} IN {family} {ip}\r\ns=Parla\r\nc=IN {family} {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP {pts}\r\na=rtpmap:{} {}/8000\r\n",
        codec.payload_type(),
        codec.name()
    );
    if let Some(d) = dtmf {
        sdp.push_str(&format!(
            "a=rtpmap:{d} telephone-event/8000\r\na=fmtp:{d} 0-15\r\n"
        ));
    }
    sdp.push_str(&format!("a=ptime:20\r\na={}\r\n", direction.attr()));
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    const BARESIP: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 10000 RTP/AVP 9 8 0 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n";

    #[test]
    fn picks_g711_and_dtmf() {
        let o = parse(BARESIP).unwrap();
        assert_eq!(o.port, 10000);
        assert_eq!(o.codec, Some(Codec::Pcma));
        assert_eq!(o.dtmf, Some(101));
        assert!(!o.on_hold());
        let a = answer(o.addr, 20000, Codec::Pcma, o.dtmf, o.direction.answer(), 1);
        assert!(a.contains("m=audio 20000 RTP/AVP 8 101"));
        assert_eq!(parse(&a).unwrap().codec, Some(Codec::Pcma));
    }

    #[test]
    fn no_g711_and_hold() {
        let opus = BARESIP.replace("9 8 0 101", "96").replace("G722", "opus");
        assert_eq!(parse(&opus).unwrap().codec, None);
        let hold = BARESIP.replace("a=sendrecv", "a=sendonly");
        assert!(parse(&hold).unwrap().on_hold());
        assert!(parse("v=0\r\n").is_err());
    }
}
