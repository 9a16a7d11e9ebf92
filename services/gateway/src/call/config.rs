//! Settings of voice calls (`[gateway.call]` in `parla.toml`, env
//! `PARLA_GATEWAY__CALL__KEY`).

use serde::{Deserialize, Serialize};

/// How calls behave: barge-in, silences, limits, metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallConfig {
    /// Caller speech over agent audio must last this long (stream time,
    /// from the VAD's speech start) before it can interrupt.
    pub barge_in_min_ms: u32,
    /// A partial interrupts only at this ASR confidence or above; a less
    /// certain one waits for the final, which interrupts if it is long
    /// enough and not a backchannel. Measured on the barge-in test's calls:
    /// partials of words 0.43–0.79, of a hummed "Mm-hmm" 0.21–0.29.
    pub barge_in_min_confidence: f32,
    /// After a final, how long (stream ms from the end of its speech) the
    /// caller may take to go on and have both pieces answered as one
    /// turn, as long as none of the answer has been heard: the answer is
    /// dropped and the merged words go to the dialogue. Callers pause
    /// 250–700 ms inside one thought (the ASR README's natural-speech
    /// figures); an answer is rarely heard before 900 ms.
    pub merge_grace_ms: u32,
    /// Words kept back to merge (said before the agent's reply began, or
    /// followed by speech that gave no words) go alone to the dialogue
    /// after this much stream time with nothing more from the caller and
    /// the agent silent, in ms.
    pub fragment_flush_ms: u32,
    /// Short acknowledgements that never interrupt the agent ("mm-hmm",
    /// "okay", "sì", "certo"); compared with the ASR partial/final text,
    /// lowercase, punctuation removed.
    pub backchannels: Vec<String>,
    /// Parla speaks a greeting when the call opens.
    pub greet: bool,
    /// Silence (no caller speech, no agent audio) before Parla asks whether
    /// the caller is still there, in seconds of stream time.
    pub silence_prompt_secs: u32,
    /// Further silence after that prompt before Parla says goodbye and
    /// closes the call, in seconds.
    pub silence_close_secs: u32,
    /// Longest call, in seconds of stream time; Parla then closes politely.
    pub max_call_secs: u32,
    /// Wall-clock seconds without any message from the client before the
    /// call is dropped as vanished.
    pub idle_timeout_secs: u32,
    /// After the first reply text, how long to wait for the reply's tone
    /// and language before speech synthesis starts with the previous ones.
    pub tone_wait_ms: u32,
    /// Keypad digits end after this much stream time without a new digit
    /// (or at `#`), then go to the dialogue as one turn.
    pub dtmf_gap_ms: u32,
    /// Calls served at once; one more is refused with RESOURCE_EXHAUSTED.
    pub max_calls: usize,
    /// Largest caller audio chunk, in bytes.
    pub max_chunk_bytes: usize,
    /// Address of the Prometheus metrics endpoint (`GET /metrics`), e.g.
    /// "127.0.0.1:9464" (port 0 picks one, logged); empty: off.
    pub metrics_listen: String,
}

impl Default for CallConfig {
    fn default() -> Self {
        Self {
            barge_in_min_ms: 300,
            barge_in_min_confidence: 0.35,
            merge_grace_ms: 2000,
            fragment_flush_ms: 1500,
            backchannels: [
                "mm",
                "mmm",
                "mm-hmm",
                "mm hmm",
                "mhm",
                "hmm",
                "uh-huh",
                "uh huh",
                "okay",
                "ok",
                "yeah",
                "yes",
                "yep",
                "right",
                "sure",
                "i see",
                "got it",
                "alright",
                "sì",
                "si",
                "certo",
                "va bene",
                "esatto",
                "ah",
                "eh",
                "ho capito",
                "d'accordo",
            ]
            .map(str::to_owned)
            .to_vec(),
            greet: true,
            silence_prompt_secs: 8,
            silence_close_secs: 6,
            max_call_secs: 900,
            idle_timeout_secs: 10,
            tone_wait_ms: 30,
            dtmf_gap_ms: 2000,
            max_calls: 32,
            max_chunk_bytes: 64_000,
            metrics_listen: String::new(),
        }
    }
}

impl CallConfig {
    /// Checks the values: `Err((key, problem))` names the key and what is
    /// allowed.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let key = |k: &str| format!("gateway.call.{k}");
        let positive = [
            ("silence_prompt_secs", self.silence_prompt_secs),
            ("silence_close_secs", self.silence_close_secs),
            ("max_call_secs", self.max_call_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
            ("dtmf_gap_ms", self.dtmf_gap_ms),
            ("fragment_flush_ms", self.fragment_flush_ms),
        ];
        for (k, v) in positive {
            if v == 0 {
                return Err((key(k), "is 0; allowed: 1 or more".into()));
            }
        }
        if self.max_calls == 0 {
            return Err((key("max_calls"), "is 0; allowed: 1 or more".into()));
        }
        if !(0.0..=1.0).contains(&self.barge_in_min_confidence) {
            return Err((
                key("barge_in_min_confidence"),
                format!("is {}; allowed: 0 to 1", self.barge_in_min_confidence),
            ));
        }
        if self.max_chunk_bytes < 160 {
            return Err((
                key("max_chunk_bytes"),
                format!(
                    "is {}; allowed: 160 (one G.711 frame) or more",
                    self.max_chunk_bytes
                ),
            ));
        }
        if !self.metrics_listen.is_empty()
            && self.metrics_listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err((
                key("metrics_listen"),
                format!(
                    "is {:?}; allowed: an address such as 127.0.0.1:9464, or \"\" for off",
                    self.metrics_listen
                ),
            ));
        }
        Ok(())
    }
}
