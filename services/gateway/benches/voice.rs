//! Voice-to-voice latency of `Conversation.Call` with the default models:
//! starts the real `parla serve` (every service, a seeded CRM), places
//! scripted calls that ask questions (two a call, as a caller with one
//! question and a follow-up), and prints p50/p95 of voice-to-voice
//! (end of caller speech to first agent audio) with its stage breakdown,
//! for 1 and for 4 concurrent calls, and the server's RSS per call.
//!
//! `cargo bench -p parla-gateway --bench voice` (the `parla` binary must be
//! built: `cargo build --release --bin parla`; `BENCH_PARLA_BIN` overrides its
//! path). Options after `--`: `--turns N` (turns per setting, default 20),
//! `--calls C` (only the setting with C concurrent calls; default 1 then 4),
//! `--soak-mins M` (instead: M minutes of back-to-back calls, RSS sampled
//! each minute), `--lang it` (an Italian caller: Festival's male voice asks
//! the questions in Italian; `scripts/prepare.sh` installs Festival). The server's log (`RUST_LOG`, default `info`) is kept in
//! `BENCH_SERVER_LOG` (default `parla-voice-bench.log` in the temp dir).
//! A service token in the environment (`PARLA_SECURITY__SERVICE_TOKEN`) is
//! given to the server, which inherits it, and presented by the bench.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parla_gateway::call::client::{self, CallClient};
use parla_gateway::call::Format;
use parla_proto::v1 as pb;
use parla_proto::v1::call_event::Event as Out;
use parla_proto::{PeerChannel, ServiceToken};

/// The Italian caller's questions (`--lang it`), spoken by Festival's male voice.
const QUESTIONS_IT: [&str; 4] = [
    "Buongiorno, può dirmi dov'è il mio ordine?",
    "Quando è stato consegnato il mio ordine?",
    "Può controllare lo stato del mio ordine, per favore?",
    "Il mio pacco è già arrivato?",
];

const QUESTIONS: [&str; 4] = [
    "Hello, can you tell me where my order is?",
    "When was my order delivered?",
    "Can you check the status of my order please?",
    "Has my parcel arrived yet?",
];

struct Server {
    child: Child,
    url: String,
    /// The server inherits this process's environment, so its service token too.
    token: Option<ServiceToken>,
    _dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("BENCH_PARLA_BIN") {
        return p.into();
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target")));
    target.join("release/parla")
}

fn start_server() -> anyhow::Result<Server> {
    let dir = std::env::temp_dir().join(format!("parla-voice-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let bin = binary();
    let log = std::env::var("BENCH_SERVER_LOG")
        .map(PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir().join("parla-voice-bench.log"));
    let seeded = Command::new(&bin)
        .current_dir(&dir)
        .args(["crm", "seed"])
        .env("PARLA_CRM__DATA_DIR", &dir)
        .output()?;
    anyhow::ensure!(
        seeded.status.success(),
        "seed failed: {}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let mut child = Command::new(&bin)
        .current_dir(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("PARLA_CRM__DATA_DIR", &dir)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log)?))
        .spawn()?;
    eprintln!("server log: {}", log.display());
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .ok_or_else(|| anyhow::anyhow!("parla serve did not start: {line:?}"))?
        .to_owned();
    Ok(Server {
        child,
        url,
        token: ServiceToken::from_env().map_err(anyhow::Error::msg)?,
        _dir: dir,
    })
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// One turn as the caller saw it.
struct TurnSeen {
    timings: pb::StageTimings,
    /// What the ASR heard (the last caller final before the timings).
    heard: String,
    /// The reply's text.
    reply: String,
}

/// The caller's questions as 16 kHz PCM: English by eSpeak NG through Parla's TTS, Italian by
/// Festival (its voices are heard far better than eSpeak NG's Italian).
async fn caller_lines(channel: PeerChannel, language: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let format = Format::from_pb(Some(&pcm16k()))?;
    let mut lines = Vec::new();
    if language == "it" {
        for q in QUESTIONS_IT {
            let mut samples = parla_audio::f32_to_i16(&parla_audio::festival::festival(q, false)?);
            samples.extend(std::iter::repeat_n(0i16, 16 * 200));
            lines.push(parla_audio::pcm16le_to_bytes(&samples));
        }
    } else {
        for q in QUESTIONS {
            lines.push(client::synthesize(channel.clone(), q, "espeak-en-f", format, 200).await?);
        }
    }
    Ok(lines)
}

/// Questions a caller asks in one call: the dialogue hands a caller who asks the same thing a
/// third time over to a person (no progress), which ends the call.
const TURNS_PER_CALL: usize = 2;

/// One caller's `turns` questions, in back-to-back calls of [`TURNS_PER_CALL`], each call
/// starting where the last one stopped in the list of questions.
async fn caller_calls(
    channel: PeerChannel,
    mut lines: Vec<Vec<u8>>,
    turns: usize,
    language: &'static str,
) -> anyhow::Result<Vec<TurnSeen>> {
    let mut out = Vec::new();
    while out.len() < turns {
        let n = (turns - out.len()).min(TURNS_PER_CALL);
        out.extend(one_call(channel.clone(), lines.clone(), n, language).await?);
        let shift = n % lines.len().max(1);
        lines.rotate_left(shift);
    }
    Ok(out)
}

/// One call of `turns` questions; returns each turn's timings.
async fn one_call(
    channel: PeerChannel,
    lines: Vec<Vec<u8>>,
    turns: usize,
    language: &str,
) -> anyhow::Result<Vec<TurnSeen>> {
    let start = pb::CallStart {
        caller_id: "+390255512345".into(),
        language: language.into(),
        format: Some(pcm16k()),
        conversation_id: String::new(),
    };
    let mut caller = CallClient::start(channel, start, Duration::from_millis(20)).await?;
    caller
        .wait_agent_done(400, Duration::from_secs(120))
        .await?;
    let mut out = Vec::new();
    for t in 0..turns {
        let from = caller.history.len();
        caller.say(lines[t % lines.len()].clone()).await;
        let timings = caller
            .wait_for(Duration::from_secs(300), |l| {
                matches!(l.event.event, Some(Out::Timings(_)) | Some(Out::Ended(_)))
            })
            .await?;
        let timings = match timings.and_then(|l| l.event.event) {
            Some(Out::Timings(t)) => t,
            other => anyhow::bail!("turn {t}: no timings ({other:?})"),
        };
        caller
            .wait_agent_done(400, Duration::from_secs(300))
            .await?;
        let mut heard = String::new();
        let mut reply = String::new();
        for l in &caller.history[from..] {
            match &l.event.event {
                Some(Out::CallerFinal(f)) => heard = f.clone(),
                Some(Out::Reply(r)) => {
                    if let Some(pb::reply_event::Event::Final(f)) = &r.event {
                        reply = f.text.clone();
                    }
                }
                _ => {}
            }
        }
        out.push(TurnSeen {
            timings,
            heard,
            reply,
        });
    }
    caller.hangup().await;
    Ok(out)
}

fn pcm16k() -> pb::AudioFormat {
    pb::AudioFormat {
        encoding: pb::AudioEncoding::Pcm16le as i32,
        sample_rate_hz: 16000,
    }
}

fn pct(v: &mut [u32], p: f64) -> u32 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn report(label: &str, all: &[pb::StageTimings]) {
    let col = |f: fn(&pb::StageTimings) -> u32| all.iter().map(f).collect::<Vec<_>>();
    let rows: [(&str, Vec<u32>); 5] = [
        ("end of turn (stream)", col(|t| t.end_of_turn_ms)),
        ("ASR final", col(|t| t.asr_ms)),
        ("first LLM/dialogue text", col(|t| t.dialogue_first_text_ms)),
        ("first TTS audio", col(|t| t.tts_first_audio_ms)),
        ("voice-to-voice", col(|t| t.voice_to_voice_ms)),
    ];
    println!("{label}: {} turns", all.len());
    println!("  {:<26} {:>8} {:>8}", "stage (ms)", "p50", "p95");
    for (name, mut v) in rows {
        let p50 = pct(&mut v, 0.5);
        let p95 = pct(&mut v, 0.95);
        println!("  {name:<26} {p50:>8} {p95:>8}");
    }
}

async fn latency(
    server: &Server,
    turns: usize,
    settings: &[usize],
    language: &'static str,
) -> anyhow::Result<()> {
    let channel = PeerChannel::connect(&server.url, server.token.as_ref()).await?;
    let lines = caller_lines(channel.clone(), language).await?;
    // Warm-up call (first model use, models still loading), not counted.
    let mut attempts = 0;
    while let Err(e) = one_call(channel.clone(), lines.clone(), 1, language).await {
        attempts += 1;
        anyhow::ensure!(attempts < 60, "warm-up call failed: {e}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let pid = server.child.id();
    let idle = rss_kib(pid);
    for &calls in settings {
        let per_call = turns.div_ceil(calls);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..calls {
            tasks.push(tokio::spawn(caller_calls(
                channel.clone(),
                lines.clone(),
                per_call,
                language,
            )));
        }
        let mut peak = idle;
        let mut all = Vec::new();
        while !tasks.iter().all(|t| t.is_finished()) {
            peak = peak.max(rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let mut failed = 0;
        for t in tasks {
            match t.await? {
                Ok(turns) => {
                    for t in turns {
                        let x = &t.timings;
                        println!(
                            "    turn {:>2}: eot {:>4} asr {:>5} text {:>4} tts {:>4} v2v {:>5} | heard {:?} | reply {:?}",
                            x.turn_index, x.end_of_turn_ms, x.asr_ms, x.dialogue_first_text_ms,
                            x.tts_first_audio_ms, x.voice_to_voice_ms, t.heard, t.reply
                        );
                        all.push(t.timings);
                    }
                }
                Err(e) => {
                    failed += 1;
                    println!("  a call failed: {e}");
                }
            }
        }
        if failed > 0 {
            println!("  {failed} of {calls} calls failed (see the server log)");
        }
        report(&format!("{calls} concurrent call(s)"), &all);
        println!(
            "  RSS idle {} MiB, peak {} MiB, per call {:.1} MiB; {:.0} s",
            idle / 1024,
            peak / 1024,
            (peak.saturating_sub(idle)) as f64 / 1024.0 / calls as f64,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

async fn soak(server: &Server, minutes: u64) -> anyhow::Result<()> {
    let channel = PeerChannel::connect(&server.url, server.token.as_ref()).await?;
    let lines = caller_lines(channel.clone(), "en").await?;
    let pid = server.child.id();
    let end = Instant::now() + Duration::from_secs(minutes * 60);
    let began = Instant::now();
    let mut next_sample = Instant::now();
    let mut samples = Vec::new();
    let mut calls = 0;
    let mut failed = 0;
    while Instant::now() < end {
        if let Err(e) = one_call(channel.clone(), lines.clone(), 2, "en").await {
            failed += 1;
            println!("  call {calls} failed: {e}");
        }
        calls += 1;
        if Instant::now() >= next_sample {
            let rss = rss_kib(pid);
            println!(
                "  minute {:>3}: {calls} calls, RSS {} MiB",
                began.elapsed().as_secs() / 60,
                rss / 1024
            );
            samples.push(rss);
            next_sample += Duration::from_secs(60);
        }
    }
    if samples.len() > 2 {
        // Warm-up: the first fifth of the run (allocator arenas and model
        // working buffers reach their size over the first calls).
        let w = (samples.len() / 5).max(1);
        let warm = samples[w] as f64;
        let last = *samples.last().unwrap_or(&0) as f64;
        let max = samples[w..].iter().copied().max().unwrap_or(0) as f64;
        println!(
            "soak: {calls} calls ({failed} failed) in {minutes} min; RSS after warm-up (sample {w}) {:.0} MiB, at end {:.0} MiB ({:+.1} %), max after warm-up {:.0} MiB ({:+.1} %)",
            warm / 1024.0,
            last / 1024.0,
            (last - warm) / warm * 100.0,
            max / 1024.0,
            (max - warm) / warm * 100.0
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let turns = value("--turns").unwrap_or(20) as usize;
    let language: &'static str = match args.iter().position(|a| a == "--lang") {
        Some(i) if args.get(i + 1).map(String::as_str) == Some("it") => "it",
        _ => "en",
    };
    let soak_mins = value("--soak-mins");
    let settings: Vec<usize> = match value("--calls") {
        Some(c) => vec![c.max(1) as usize],
        None => vec![1, 4],
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let server = start_server()?;
    rt.block_on(async {
        let token = server.token.clone();
        // Wait for readiness: a TTS call succeeds once every model is loaded.
        let ready_by = Instant::now() + Duration::from_secs(300);
        loop {
            let ok = match PeerChannel::connect(&server.url, token.as_ref()).await {
                Ok(c) => client::synthesize(c, "ready", "", Format::from_pb(Some(&pcm16k()))?, 0)
                    .await
                    .is_ok(),
                Err(_) => false,
            };
            if ok {
                break;
            }
            anyhow::ensure!(Instant::now() < ready_by, "server not ready");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        match soak_mins {
            Some(m) => soak(&server, m).await,
            None => latency(&server, turns, &settings, language).await,
        }
    })
}
