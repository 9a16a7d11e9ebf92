//! Per-stage call metrics in the Prometheus text format, served on
//! `GET /metrics` at `gateway.call.metrics_listen`: end-of-turn detection,
//! ASR final, first LLM (dialogue) text, first TTS audio and voice-to-voice
//! latency histograms, plus call, barge-in and error counters.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Histogram bucket bounds, in milliseconds.
const BUCKETS_MS: [f64; 14] = [
    25.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 650.0, 800.0, 1000.0, 1200.0, 1600.0, 2500.0,
    5000.0,
];

/// The stages of a voice turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// End of caller speech to the end-of-turn decision (stream time).
    EndOfTurn,
    /// End of caller speech to the ASR final transcript.
    AsrFinal,
    /// Transcript sent to the dialogue to its first reply text.
    FirstLlmToken,
    /// First sentence sent to synthesis to its first audio.
    FirstTtsAudio,
    /// End of caller speech to the first agent audio.
    VoiceToVoice,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 5] = [
        Stage::EndOfTurn,
        Stage::AsrFinal,
        Stage::FirstLlmToken,
        Stage::FirstTtsAudio,
        Stage::VoiceToVoice,
    ];

    /// Metric name suffix.
    pub fn name(self) -> &'static str {
        match self {
            Stage::EndOfTurn => "end_of_turn",
            Stage::AsrFinal => "asr_final",
            Stage::FirstLlmToken => "first_llm_token",
            Stage::FirstTtsAudio => "first_tts_audio",
            Stage::VoiceToVoice => "voice_to_voice",
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS_MS.len()],
    count: u64,
    sum: f64,
}

/// Counters and histograms shared by every call of a process.
#[derive(Debug, Default)]
pub struct CallMetrics {
    stages: Mutex<[Histogram; 5]>,
    /// Calls started.
    pub calls_started: AtomicU64,
    /// Calls in progress.
    pub calls_active: AtomicU64,
    /// Calls that ended with an error.
    pub calls_failed: AtomicU64,
    /// Barge-ins (agent audio stopped by the caller).
    pub barge_ins: AtomicU64,
    /// Backchannels heard over agent audio (not interrupting).
    pub backchannels: AtomicU64,
    /// Turns taken back: the caller went on before hearing the answer,
    /// and the pieces were answered as one turn.
    pub turns_taken_back: AtomicU64,
    /// ASR or dialogue streams that failed mid-call and were reopened.
    pub upstream_recoveries: AtomicU64,
}

impl CallMetrics {
    /// Records one observation of `stage`, in milliseconds.
    pub fn observe(&self, stage: Stage, ms: f64) {
        let i = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
        let Ok(mut h) = self.stages.lock() else {
            return;
        };
        let h = &mut h[i];
        for (b, bound) in BUCKETS_MS.iter().enumerate() {
            if ms <= *bound {
                h.counts[b] += 1;
            }
        }
        h.count += 1;
        h.sum += ms;
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let stages = self.stages.lock().map(|s| s.clone()).unwrap_or_default();
        for (stage, h) in Stage::ALL.iter().zip(stages.iter()) {
            let name = format!("parla_call_{}_ms", stage.name());
            let _ = writeln!(
                out,
                "# HELP {name} Voice turn stage latency: {}.",
                stage.name()
            );
            let _ = writeln!(out, "# TYPE {name} histogram");
            for (b, bound) in BUCKETS_MS.iter().enumerate() {
                let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", h.counts[b]);
            }
            let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{name}_sum {}", h.sum);
            let _ = writeln!(out, "{name}_count {}", h.count);
        }
        let counters = [
            ("parla_calls_started_total", "counter", &self.calls_started),
            ("parla_calls_active", "gauge", &self.calls_active),
            ("parla_calls_failed_total", "counter", &self.calls_failed),
            ("parla_call_barge_ins_total", "counter", &self.barge_ins),
            (
                "parla_call_backchannels_total",
                "counter",
                &self.backchannels,
            ),
            (
                "parla_call_turns_taken_back_total",
                "counter",
                &self.turns_taken_back,
            ),
            (
                "parla_call_upstream_recoveries_total",
                "counter",
                &self.upstream_recoveries,
            ),
        ];
        for (name, kind, v) in counters {
            let _ = writeln!(out, "# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        out
    }
}

/// Serves `GET /metrics` on `addr`; returns the bound address. Other paths
/// get 404.
pub async fn serve(addr: SocketAddr, metrics: Arc<CallMetrics>) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, peer)) = listener.accept().await else {
                continue;
            };
            let metrics = Arc::clone(&metrics);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let n = match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    socket.read(&mut buf),
                )
                .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
                let head = String::from_utf8_lossy(&buf[..n]);
                let response = if head.starts_with("GET /metrics ") {
                    let body = metrics.render();
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    tracing::debug!(%peer, "metrics: not found");
                    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .to_owned()
                };
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_histograms() {
        let m = CallMetrics::default();
        m.observe(Stage::VoiceToVoice, 420.0);
        m.observe(Stage::VoiceToVoice, 900.0);
        let text = m.render();
        assert!(text.contains("parla_call_voice_to_voice_ms_bucket{le=\"500\"} 1"));
        assert!(text.contains("parla_call_voice_to_voice_ms_count 2"));
        assert!(text.contains("parla_call_asr_final_ms_count 0"));
    }
}
