//! Benchmark of the candle backend: load time, time to first token for a turn of about 80 new
//! tokens on a cached 500-token prefix, prompt and generation throughput, peak RSS, and the
//! same turn in 4 conversations at once.
//!
//! `cargo run --release -p parla-llm --bin llm-bench -- [MODEL] [--concurrency N] [--gen N]`
//! MODEL is a model cache name or a `.gguf` path (default `smollm2-135m`); `--threads N` sets the
//! engine threads (default: every core), `--slow` turns the fast forward off.

use std::time::Instant;

use parla_llm::{
    CandleModel, ChatMessage, GenerationParams, GenerationRequest, LanguageModel, LlmConfig,
};
use parla_models::ModelCache;

const FACTS: [&str; 8] = [
    "The Breeze jacket is a light windbreaker in blue or red, sizes S to XL, at 89 euros.",
    "The Summit parka is filled with down, rated to minus 20 degrees, at 249 euros.",
    "Returns are free within 30 days of delivery when the item is unworn and has its tags.",
    "Orders ship within two working days; delivery in Italy takes three to five days.",
    "The Trail boots are waterproof leather hiking boots, sizes 38 to 47, at 159 euros.",
    "Customers can change the delivery address until the order has been shipped.",
    "Gift cards are valid for two years and cannot be exchanged for cash.",
    "The support line is open Monday to Saturday from 8 to 20.",
];

fn prefix_messages(model: &CandleModel, target: usize, tag: usize) -> Vec<ChatMessage> {
    let mut system = format!("You are a customer support agent for an outdoor clothing shop (desk {tag}). Use only these facts:\n");
    let mut i = 0;
    loop {
        system.push_str(&format!("- {}\n", FACTS[i % FACTS.len()]));
        i += 1;
        let messages = vec![
            ChatMessage::system(system.clone()),
            ChatMessage::user("Hello, I have a question about my order."),
        ];
        if model
            .prompt_tokens(&messages)
            .map(|t| t.len())
            .unwrap_or(target)
            >= target
        {
            return messages;
        }
    }
}

const QUESTION: &str = "I bought the Breeze jacket last week for a hiking trip in the mountains, but it turned out \
to be far too light for the cold evenings up there. Can I still return it, or exchange it for the Summit parka, and \
how long would the exchange take to reach me in Milan? And does the parka come in red as well, in size M?";

/// CPU time of this process (user + system), in milliseconds.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    // Fields 14 and 15 of proc(5), counted after the command name: utime and stime in ticks.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) * 10.0
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

struct Turn {
    ttft_ms: f64,
    new_tokens: usize,
    cached: usize,
    generated: usize,
    total_ms: f64,
}

/// Primes a conversation's prefix, then runs the measured turn.
fn prime(model: &CandleModel, conv: &str, prefix: &[ChatMessage]) -> Vec<ChatMessage> {
    let req = GenerationRequest {
        params: GenerationParams::greedy(8),
        ..GenerationRequest::new(conv, prefix.to_vec())
    };
    let out = model
        .generate(req)
        .and_then(|s| s.blocking_finish())
        .expect("priming turn");
    let mut messages = prefix.to_vec();
    messages.push(ChatMessage::assistant(out.text));
    // The ticket number keeps another conversation's cached turn from matching this one.
    messages.push(ChatMessage::user(format!("(ticket {conv}) {QUESTION}")));
    messages
}

fn turn(model: &CandleModel, conv: &str, messages: Vec<ChatMessage>, gen: usize) -> Turn {
    let params = GenerationParams {
        min_tokens: gen,
        ..GenerationParams::greedy(gen)
    };
    let req = GenerationRequest {
        params,
        ..GenerationRequest::new(conv, messages)
    };
    let out = model
        .generate(req)
        .and_then(|s| s.blocking_finish())
        .expect("measured turn");
    Turn {
        ttft_ms: out.usage.time_to_first_token_ms,
        new_tokens: out.usage.processed_prompt_tokens,
        cached: out.usage.cached_prompt_tokens,
        generated: out.usage.completion_tokens,
        total_ms: out.usage.total_ms,
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut config = LlmConfig::default();
    let (mut concurrency, mut gen) = (4usize, 128usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--concurrency" => concurrency = args.next().and_then(|v| v.parse().ok()).unwrap_or(4),
            "--gen" => gen = args.next().and_then(|v| v.parse().ok()).unwrap_or(128),
            "--slow" => config.fast_forward = parla_llm::FastForward::Off,
            "--threads" => config.threads = args.next().and_then(|v| v.parse().ok()).unwrap_or(0),
            model => config.model = model.to_owned(),
        }
    }
    let cache = ModelCache::from_env().expect("model cache");
    let model = CandleModel::load(&config, &cache).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let info = model.info().clone();
    println!(
        "model: {} ({}, {} parameters, fast forward {})",
        info.path.display(),
        info.architecture,
        info.parameters,
        info.fast_forward
    );
    println!(
        "cores: {}, engine threads: {} (0 = every core)",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        config.threads
    );
    println!("load: {:.0} ms", info.load_ms);
    println!(
        "load average: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    let prefix = prefix_messages(&model, 500, 0);
    // Cold prompt: the whole prefix, no cache.
    let started = Instant::now();
    let messages = prime(&model, "bench-cold", &prefix);
    let cold_ms = started.elapsed().as_secs_f64() * 1000.0;
    let prefix_tokens = model.prompt_tokens(&prefix).map(|t| t.len()).unwrap_or(0);
    println!("cold prompt: {prefix_tokens} tokens + 8 generated in {cold_ms:.0} ms");

    let mut ttfts = Vec::new();
    let mut last = None;
    let mut prompt_cpu = Vec::new();
    for rep in 0..3 {
        let conv = format!("bench-{rep}");
        let messages = prime(&model, &conv, &prefix);
        // CPU of the prompt alone: the same turn with one generated token.
        let before = cpu_ms();
        turn(&model, &format!("{conv}-cpu"), messages.clone(), 1);
        prompt_cpu.push(cpu_ms() - before);
        // Its cache holds the whole measured prompt: it must not serve the measured turn.
        model.forget(&format!("{conv}-cpu"));
        let t = turn(&model, &conv, messages, gen);
        ttfts.push(t.ttft_ms);
        last = Some(t);
    }
    let _ = messages;
    let t = last.expect("three turns");
    ttfts.sort_by(f64::total_cmp);
    println!(
        "turn on cached prefix: {} new tokens on {} cached, time to first token {:.0} ms (median of 3: {:?})",
        t.new_tokens,
        t.cached,
        ttfts[1],
        ttfts.iter().map(|v| v.round()).collect::<Vec<_>>()
    );
    prompt_cpu.sort_by(f64::total_cmp);
    println!(
        "turn cpu: {:.0} ms of CPU for the new tokens and one generated, all threads (median of 3: {:?})",
        prompt_cpu[1], prompt_cpu
    );
    println!(
        "prompt throughput: {:.0} tokens/s (new tokens / time to first token)",
        t.new_tokens as f64 / (ttfts[1] / 1000.0)
    );
    let gen_rate = (t.generated.saturating_sub(1)) as f64 / ((t.total_ms - t.ttft_ms) / 1000.0);
    println!(
        "generation: {} tokens at {:.1} tokens/s",
        t.generated, gen_rate
    );
    println!("peak rss: {:.0} MiB", peak_rss_mib());

    // CPU per generated token: the same turn with 16 and with `gen` tokens, on fresh copies of
    // the cached prefix (all engine threads, idle spinning of the second one included).
    let mut cpu = Vec::new();
    for (i, n) in [16, gen.max(32)].into_iter().enumerate() {
        let conv = format!("bench-cpu{i}");
        let messages = prime(&model, &conv, &prefix);
        let before = cpu_ms();
        let t = turn(&model, &conv, messages, n);
        cpu.push((cpu_ms() - before, t.generated));
    }
    let per_token = (cpu[1].0 - cpu[0].0) / (cpu[1].1 - cpu[0].1).max(1) as f64;
    println!(
        "generation cpu: {per_token:.1} ms of CPU per token, all threads (= {:.0} tokens/s if one core did it all; load {})",
        1000.0 / per_token.max(0.001),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    // Concurrent conversations: each primed on its own prefix, then all turns at once.
    let prepared: Vec<(String, Vec<ChatMessage>)> = (0..concurrency)
        .map(|i| {
            let conv = format!("bench-c{i}");
            let p = prefix_messages(&model, 500, i + 1);
            let m = prime(&model, &conv, &p);
            (conv, m)
        })
        .collect();
    let started = Instant::now();
    let turns: Vec<Turn> = std::thread::scope(|s| {
        let handles: Vec<_> = prepared
            .into_iter()
            .map(|(conv, m)| {
                s.spawn({
                    let model = &model;
                    move || turn(model, &conv, m, gen)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("turn thread"))
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    let total: usize = turns.iter().map(|t| t.generated).sum();
    let mean_ttft = turns.iter().map(|t| t.ttft_ms).sum::<f64>() / turns.len() as f64;
    let max_ttft = turns.iter().map(|t| t.ttft_ms).fold(0.0, f64::max);
    println!(
        "{concurrency} concurrent turns: time to first token mean {mean_ttft:.0} ms, max {max_ttft:.0} ms; {total} tokens in {:.2} s = {:.1} tokens/s total, {:.1} per conversation",
        wall,
        total as f64 / wall,
        total as f64 / wall / concurrency as f64
    );
    println!("peak rss: {:.0} MiB", peak_rss_mib());
}
