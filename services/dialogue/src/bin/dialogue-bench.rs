//! `dialogue-bench`: per-turn latency of the dialogue manager, printed as a table.
//!
//! Usage: `dialogue-bench [--server URL] [--turns N]`. In this process it measures the
//! understanding of a turn and the sentence encoder (its load time and the resident memory it
//! adds; each built-in English and Italian example encoded alone, then in batches of 32). With
//! `--server`, against a running `parla serve` with crm, handoff and dialogue, its CRM seeded
//! with the demo data (`parla crm seed`), it also measures, per turn: understanding (in this
//! process, the same code the server runs), the CRM lookup (`IdentifyCustomer` +
//! `GetCustomerContext` over gRPC), the first reply text and the full reply of
//! `Dialogue.Converse` (time from sending the turn to the first delta and to the final event). Record `uptime` with the figures: the machine is shared. A server with
//! `security.service_token` needs the same token in `PARLA_SECURITY__SERVICE_TOKEN` (or a file
//! in `PARLA_SECURITY__SERVICE_TOKEN_FILE`).

use std::time::{Duration, Instant};

use parla_dialogue::encoder::Encoder;
use parla_dialogue::{intent, Language, Understanding};
use parla_proto::v1 as pb;
use pb::converse_request::Request as In;
use pb::customer_hint::Hint;
use pb::reply_event::Event;
use tokio_stream::wrappers::ReceiverStream;

const TURNS: [(&str, &str); 8] = [
    ("en", "Hi, where is my order A1042?"),
    ("en", "It still hasn't arrived and I'm getting annoyed."),
    ("en", "Can I return the jacket? It's too light."),
    ("en", "What are your opening hours in Milan?"),
    ("it", "Buongiorno, dov'è il mio ordine A1042?"),
    ("it", "Non è ancora arrivato, sono stufo."),
    ("it", "Vorrei restituire la giacca, è troppo leggera."),
    ("it", "Grazie, arrivederci."),
];

fn main() {
    if let Err(e) = run() {
        eprintln!("dialogue-bench: {e}");
        std::process::exit(1);
    }
}

fn stats(name: &str, v: &mut [f64]) {
    v.sort_by(f64::total_cmp);
    let p = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    println!(
        "| {name} | {} | {:.2} | {:.2} | {:.2} |",
        v.len(),
        p(0.5),
        p(0.95),
        p(1.0)
    );
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |n: &str| {
        args.iter()
            .position(|a| a == n)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let server = flag("--server");
    let rounds: usize = flag("--turns")
        .map(|t| t.parse())
        .transpose()?
        .unwrap_or(400);
    let cache = parla_models::ModelCache::from_env()?;
    // As the service runs it: the sentence encoder under the classifiers. The resident memory
    // it adds, with the models trained on it, is measured around the load.
    let rss_before = resident_kib()?;
    let loading = Instant::now();
    let nlu = Understanding::load_with(&cache, true)?;
    println!(
        "understanding with the encoder: loaded and trained in {:.2} s, resident memory +{:.1} MiB",
        loading.elapsed().as_secs_f64(),
        resident_kib()?.saturating_sub(rss_before) as f64 / 1024.0
    );
    let mut understanding = Vec::new();
    for i in 0..rounds.max(TURNS.len()) {
        let (lang, text) = TURNS[i % TURNS.len()];
        let lang = Language::parse(lang).ok_or("language")?;
        let t = Instant::now();
        std::hint::black_box(nlu.analyze(text, lang));
        understanding.push(t.elapsed().as_secs_f64() * 1e3);
    }
    encoder(&cache)?;
    let Some(server) = server else {
        println!("| step | n | p50 ms | p95 ms | max ms |");
        println!("|---|---|---|---|---|");
        stats("understanding (in process)", &mut understanding);
        return Ok(());
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (mut crm, mut first, mut full) = rt.block_on(remote(&server, rounds))?;
    println!("| step | n | p50 ms | p95 ms | max ms |");
    println!("|---|---|---|---|---|");
    stats("understanding (in process)", &mut understanding);
    stats("CRM lookup (identify + context)", &mut crm);
    stats("first reply text (Converse)", &mut first);
    stats("full reply (Converse final event)", &mut full);
    Ok(())
}

/// The sentence encoder: load time and the resident memory it adds, then the time to encode one
/// sentence (each built-in example in turn, after a warm-up) and, per sentence, a batch of 32.
fn encoder(cache: &parla_models::ModelCache) -> Result<(), Box<dyn std::error::Error>> {
    let before = resident_kib()?;
    let t = Instant::now();
    let encoder = Encoder::load(cache)?;
    let load = t.elapsed();
    let added = resident_kib()?.saturating_sub(before);
    let mut examples = intent::builtin_examples(Language::En);
    examples.extend(intent::builtin_examples(Language::It));
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    for text in texts.iter().take(32) {
        std::hint::black_box(encoder.embed(text)?);
    }
    let mut one = Vec::with_capacity(texts.len());
    for text in &texts {
        let t = Instant::now();
        std::hint::black_box(encoder.embed(text)?);
        one.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let mut batched = Vec::new();
    for batch in texts.chunks_exact(32) {
        let t = Instant::now();
        std::hint::black_box(encoder.embed_batch(batch)?);
        batched.push(t.elapsed().as_secs_f64() * 1e6 / batch.len() as f64);
    }
    println!(
        "sentence encoder: loaded in {:.2} s, resident memory +{:.1} MiB",
        load.as_secs_f64(),
        added as f64 / 1024.0
    );
    println!("| sentence encoder | n | p50 µs | p95 µs | max µs |");
    println!("|---|---|---|---|---|");
    stats("one sentence (embed)", &mut one);
    stats("per sentence in a batch of 32 (embed_batch)", &mut batched);
    println!();
    Ok(())
}

/// This process's resident set (VmRSS), in KiB.
fn resident_kib() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

type Timings = (Vec<f64>, Vec<f64>, Vec<f64>);

async fn remote(server: &str, rounds: usize) -> Result<Timings, Box<dyn std::error::Error>> {
    // The CRM and the dialogue are internal: present the server's token, if it has one.
    let token = parla_proto::ServiceToken::from_env()?;
    let channel = parla_proto::PeerChannel::connect(server, token.as_ref()).await?;
    let mut crm = pb::crm_client::CrmClient::new(channel.clone());
    let mut lookups = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let c = crm
            .identify_customer(pb::IdentifyCustomerRequest {
                hint: Some(pb::CustomerHint {
                    hint: Some(Hint::PhoneNumber("+39 02 5551 2345".into())),
                }),
            })
            .await?
            .into_inner();
        crm.get_customer_context(pb::GetCustomerContextRequest {
            customer_id: c.id,
            recent_interactions: 3,
        })
        .await?;
        lookups.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut dialogue = pb::dialogue_client::DialogueClient::new(channel);
    let (mut first, mut full) = (Vec::new(), Vec::new());
    let per_conversation = 4;
    for c in 0..rounds.div_ceil(per_conversation) {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(pb::ConverseRequest {
            request: Some(In::Start(pb::ConversationStart {
                conversation_id: format!("bench-{}-{c}", std::process::id()),
                channel: pb::Channel::Voice as i32,
                language: String::new(),
                customer: Some(pb::CustomerHint {
                    hint: Some(Hint::PhoneNumber("+39 02 5551 2345".into())),
                }),
            })),
        })
        .await?;
        let mut events = dialogue
            .converse(ReceiverStream::new(rx))
            .await?
            .into_inner();
        let offset = (c % 2) * 4;
        for i in 0..per_conversation {
            let (lang, text) = TURNS[offset + i];
            let sent = Instant::now();
            tx.send(pb::ConverseRequest {
                request: Some(In::Turn(pb::Turn {
                    text: text.into(),
                    language: lang.into(),
                    ..Default::default()
                })),
            })
            .await?;
            let mut got_first: Option<Duration> = None;
            while let Some(e) = events.message().await? {
                match e.event {
                    Some(Event::Delta(_)) => {
                        got_first.get_or_insert_with(|| sent.elapsed());
                    }
                    Some(Event::Final(_)) => {
                        let t = sent.elapsed();
                        first.push(got_first.unwrap_or(t).as_secs_f64() * 1e3);
                        full.push(t.as_secs_f64() * 1e3);
                        break;
                    }
                    None => {}
                }
            }
        }
    }
    Ok((lookups, first, full))
}
