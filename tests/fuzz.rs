//! Fuzzing the parsers that read what a stranger sends: SIP messages and
//! the `message/sipfrag` bodies of NOTIFYs, SDP offers, RTP packets and
//! their RFC 4733 DTMF events, WAV files, SSML and the shop's JWTs. Each
//! target starts from its committed corpus (`tests/fuzz/<target>/`) and
//! runs mutated inputs (bit flips, inserted and deleted ranges, repeated
//! ranges, splices of two seeds, and tokens that break parsers: quotes,
//! `<`, CRLFs, huge numbers) for a bounded time. A panic or an input that
//! takes over a second fails the test and is saved under
//! `target/fuzz-crashes/` to become a regression seed.
//!
//! `PARLA_FUZZ_SECS` sets the time per target (default 4) and
//! `PARLA_FUZZ_SEED` the mutation seed (default fixed, so a failure
//! repeats). The figures of a longer run are in the gateway README.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Longest one input may take.
const SLOW: Duration = Duration::from_secs(1);

/// Inputs are cut to this size (a UDP datagram's worth and then some).
const MAX_INPUT: usize = 16 * 1024;

/// Tokens that tend to break text parsers.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\r\n\r\n",
    b"<",
    b">",
    b"</",
    b"/>",
    b"\"",
    b"'",
    b"&",
    b"&#x0;",
    b";",
    b":",
    b"=",
    b".",
    b"..",
    b"%",
    b"\0",
    b"\xff\xfe",
    b"\xc3\x28",
    b"99999999999999999999",
    b"-1",
    b"0",
    b"4294967295",
    b"18446744073709551616",
    b"SIP/2.0 ",
    b"Content-Length: 999999\r\n",
    b"m=audio ",
    b"a=rtpmap:",
    b"<say-as interpret-as=\"digits\">",
    b"<break time=\"",
    b"<prosody rate=\"",
    b"eyJ",
];

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// One mutation of `input`, sometimes spliced with `other`.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    let len = input.len();
    match rng.below(8) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            input[i] = rng.next() as u8;
        }
        2 => {
            let at = rng.below(len + 1);
            let token = TOKENS[rng.below(TOKENS.len())];
            input.splice(at..at, token.iter().copied());
        }
        3 if len > 1 => {
            let a = rng.below(len);
            let b = (a + 1 + rng.below(64)).min(len);
            input.drain(a..b);
        }
        4 if len > 1 => {
            // Repeat a range, sometimes many times.
            let a = rng.below(len);
            let b = (a + 1 + rng.below(32)).min(len);
            let piece = input[a..b].to_vec();
            let most = if rng.below(4) == 0 { 200 } else { 3 };
            let times = 1 + rng.below(most);
            for _ in 0..times {
                input.splice(b..b, piece.iter().copied());
            }
        }
        5 if !other.is_empty() => {
            let cut = rng.below(len + 1);
            let from = rng.below(other.len());
            input.truncate(cut);
            input.extend_from_slice(&other[from..]);
        }
        6 if len > 0 => input.truncate(rng.below(len)),
        _ => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            input.splice(at..at, bytes);
        }
    }
    input.truncate(MAX_INPUT);
}

/// The committed seeds of `target`.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

/// Figures of one target's run.
struct Run {
    executions: u64,
    accepted: u64,
    slowest: Duration,
}

/// Runs `check` on the corpus and on mutations of it for the time budget;
/// `check` returns whether the input was accepted (parsed) or refused.
fn fuzz(target: &str, check: impl Fn(&[u8]) -> bool) -> Run {
    let secs: u64 = std::env::var("PARLA_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let seed: u64 = std::env::var("PARLA_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_0001);
    let seeds = corpus(target);
    let mut rng = Rng(seed ^ target.len() as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let mut run = Run {
        executions: 0,
        accepted: 0,
        slowest: Duration::ZERO,
    };
    let budget = Duration::from_secs(secs);
    let started = Instant::now();
    let mut queue: Vec<Vec<u8>> = seeds.clone();
    while started.elapsed() < budget || run.executions < seeds.len() as u64 {
        let input = if (run.executions as usize) < seeds.len() {
            seeds[run.executions as usize].clone()
        } else {
            let mut input = queue[rng.below(queue.len())].clone();
            let other = &seeds[rng.below(seeds.len())];
            for _ in 0..1 + rng.below(4) {
                mutate(&mut rng, &mut input, other);
            }
            input
        };
        let began = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(&input)));
        let took = began.elapsed();
        run.executions += 1;
        run.slowest = run.slowest.max(took);
        match outcome {
            Ok(accepted) => {
                if accepted {
                    run.accepted += 1;
                    // Inputs that still parse make good parents.
                    if queue.len() < 4096 && rng.below(8) == 0 {
                        queue.push(input.clone());
                    }
                }
            }
            Err(_) => panic!(
                "{target}: a panic on input saved as {}",
                save(target, &input).display()
            ),
        }
        assert!(
            took < SLOW,
            "{target}: {took:?} on one input, saved as {}",
            save(target, &input).display()
        );
    }
    println!(
        "{target}: {} executions in {:.1} s ({} parsed, {} refused), slowest {:?}, no panic",
        run.executions,
        started.elapsed().as_secs_f64(),
        run.accepted,
        run.executions - run.accepted,
        run.slowest
    );
    run
}

/// Saves a failing input for a regression seed.
fn save(target: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    let _ = std::fs::create_dir_all(&dir);
    let hash: u64 = input.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = dir.join(format!("{target}-{hash:016x}"));
    let _ = std::fs::write(&path, input);
    path
}

/// Each target must have parsed some inputs (else the mutations never
/// reach the parser's depths) and refused some (else it accepts anything).
fn both_ways(target: &str, run: &Run) {
    assert!(run.accepted > 0, "{target}: nothing parsed");
    assert!(run.accepted < run.executions, "{target}: nothing refused");
}

#[test]
fn sip_messages() {
    let run = fuzz("sip", |b| rsipstack::sip::SipMessage::try_from(b).is_ok());
    both_ways("sip", &run);
}

#[test]
fn sipfrag_bodies() {
    let run = fuzz("sipfrag", |b| {
        parla_gateway::sip::transfer::sipfrag(&String::from_utf8_lossy(b)).is_some()
    });
    both_ways("sipfrag", &run);
}

#[test]
fn sdp_offers() {
    let run = fuzz("sdp", |b| {
        parla_gateway::sip::sdp::parse(&String::from_utf8_lossy(b)).is_ok()
    });
    both_ways("sdp", &run);
}

#[test]
fn rtp_packets_and_dtmf_events() {
    let run = fuzz("rtp", |b| {
        let Some(packet) = parla_gateway::sip::rtp::parse(b) else {
            return false;
        };
        let mut dtmf = parla_gateway::sip::rtp::DtmfReceiver::default();
        let _ = dtmf.push(packet.timestamp, packet.payload);
        let mut jitter = parla_gateway::sip::rtp::JitterBuffer::new(3);
        jitter.push(packet.sequence, packet.payload);
        jitter.push(packet.sequence.wrapping_add(2), packet.payload);
        while jitter.pop().is_some() {}
        true
    });
    both_ways("rtp", &run);
}

#[test]
fn wav_files() {
    let run = fuzz("wav", |b| parla_audio::read_wav_bytes(b).is_ok());
    both_ways("wav", &run);
}

#[test]
fn ssml() {
    let run = fuzz("ssml", |b| {
        let text = String::from_utf8_lossy(b);
        let lang = parla_tts::text::Lang::from_tag(if b.len() % 2 == 0 { "en" } else { "it" });
        parla_tts::text::plan(&text, true, lang).is_ok()
    });
    both_ways("ssml", &run);
}

#[test]
fn shop_tokens() {
    let key = "fuzz-shop-key-0123456789abcdef";
    let keys = parla_gateway::chat::TokenKeys::new(key, 86_400);
    // The key works: a token it signs verifies, so every refusal below is
    // a forgery's own (the corpus holds unsigned and zero-signed tokens).
    let now = parla_gateway::chat::now_secs();
    let valid = parla_gateway::chat::TokenKeys::sign_with(
        key.as_bytes(),
        &parla_gateway::chat::Claims {
            sub: "C100".into(),
            exp: now + 300,
            iat: now,
            iss: "shop".into(),
            cid: String::new(),
            via: String::new(),
        },
    );
    assert!(
        keys.verify(&valid).is_ok(),
        "a freshly signed token verifies"
    );
    let run = fuzz("jwt", |b| keys.verify(&String::from_utf8_lossy(b)).is_ok());
    // Forged tokens must all be refused: without the key no mutation of
    // the committed seeds (unsigned or zero-signed) can verify.
    assert_eq!(run.accepted, 0, "a token verified without the shop's key");
}
