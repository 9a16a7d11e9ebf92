//! The OpenAI-compatible backend: chat completions streamed as server-sent events from vLLM,
//! llama.cpp's server, TGI or any compatible endpoint. Only standard chat-completions
//! parameters are sent (`model`, `messages`, `stream`, `temperature`, `top_p`, `max_tokens`,
//! `seed`, `stop`; vLLM's `guided_choice` only for a label constraint), plus what
//! `extra_body` configures. Connection failures, 429 and 5xx answers are retried with
//! exponential backoff before any text was streamed; after that a broken stream is an error,
//! never a silently short reply. A request's `time_budget` covers all of it — connecting,
//! retries, the wait for the response headers and the stream — and ends it with
//! `StopReason::TimeBudget`. A refusal (a `refusal` delta, `finish_reason: content_filter`) is
//! an error, never a reply.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};

use crate::text::{Pushed, TextAssembler};
use crate::types::EventSender;
use crate::{
    Constraint, GenerationEvent, GenerationOutput, GenerationRequest, GenerationStream,
    GenerationUsage, LanguageModel, LlmError, OpenAiConfig, StopReason,
};

/// Body keys Parla sets itself; `extra_body` may not replace them.
const OWN_KEYS: [&str; 10] = [
    "model",
    "messages",
    "stream",
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "stop",
    "guided_choice",
    "response_format",
];

/// How sending the request ended, when it did not fail.
enum Sent {
    /// The endpoint answered 2xx: the stream follows.
    Answer(reqwest::Response),
    /// The request was cancelled.
    Cancelled,
    /// The time budget ran out before the response headers came.
    OutOfTime,
}

/// A chat model behind an OpenAI-compatible HTTP endpoint.
#[derive(Clone)]
pub struct OpenAiModel {
    client: reqwest::Client,
    config: OpenAiConfig,
    url: String,
}

impl OpenAiModel {
    /// A client for `config.base_url`; nothing is sent until the first generation. An
    /// `extra_body` key that Parla sets itself is refused, naming it.
    pub fn new(config: &OpenAiConfig) -> Result<Self, LlmError> {
        let url = format!("{}/chat/completions", config.base_url.trim_end_matches('/'));
        if let Some(key) = config
            .extra_body
            .keys()
            .find(|k| OWN_KEYS.contains(&k.as_str()))
        {
            return Err(LlmError::InvalidRequest(format!(
                "`openai.extra_body.{key}` would replace a parameter Parla sets itself; remove it (extra_body is for parameters Parla does not send, such as `repetition_penalty`)"
            )));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .build()
            .map_err(|e| LlmError::Endpoint {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            client,
            config: config.clone(),
            url,
        })
    }

    fn body(&self, request: &GenerationRequest) -> Value {
        let p = &request.params;
        let mut body = json!({
            "model": self.config.model,
            "messages": request.messages.iter().map(|m| json!({"role": m.role.as_str(), "content": m.content})).collect::<Vec<_>>(),
            "stream": true,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "seed": p.seed,
        });
        // `repetition_penalty` is not an OpenAI parameter: strict servers refuse a request
        // that has it, so it is sent only through `extra_body`.
        if !p.stop.is_empty() {
            body["stop"] = json!(p.stop.iter().take(4).collect::<Vec<_>>());
        }
        match &request.constraint {
            Some(Constraint::Labels(labels)) => body["guided_choice"] = json!(labels),
            Some(Constraint::JsonObject(_)) => {
                body["response_format"] = json!({"type": "json_object"})
            }
            None => {}
        }
        for (key, value) in &self.config.extra_body {
            body[key.as_str()] = value.clone();
        }
        body
    }

    fn err(&self, reason: impl ToString) -> LlmError {
        LlmError::Endpoint {
            url: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    fn refused(&self, reason: &str) -> LlmError {
        LlmError::Refused {
            url: self.url.clone(),
            reason: reason.to_owned(),
        }
    }

    fn disconnected(&self, reason: impl ToString) -> LlmError {
        LlmError::Disconnected {
            url: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    /// Sends the request, retrying refused connections, 429 and 5xx, until `deadline` (the
    /// request's time budget) if it has one.
    async fn connect(
        &self,
        request: &GenerationRequest,
        body: &Value,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<Sent, LlmError> {
        let out_of_time = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(out_of_time);
        let mut backoff = Duration::from_millis(self.config.backoff_ms);
        let attempts = self.config.max_retries + 1;
        for attempt in 1..=attempts {
            let mut req = self.client.post(&self.url).json(body);
            if !self.config.api_key.is_empty() {
                req = req.bearer_auth(&self.config.api_key);
            }
            let timeout = Duration::from_millis(self.config.request_timeout_ms);
            let sent = tokio::select! {
                biased;
                _ = request.cancel.cancelled() => return Ok(Sent::Cancelled),
                _ = &mut out_of_time => return Ok(Sent::OutOfTime),
                r = tokio::time::timeout(timeout, req.send()) => r,
            };
            let last = attempt == attempts;
            let wait = match sent {
                Err(_) => {
                    return Err(self.err(format!("no response within {} ms", timeout.as_millis())))
                }
                Ok(Err(e)) if last => {
                    return Err(self.err(format!(
                        "cannot connect after {attempts} attempts (is the server running?): {e}"
                    )))
                }
                Ok(Err(e)) => {
                    tracing::warn!(url = %self.url, attempt, error = %e, "llm endpoint unreachable, retrying");
                    backoff
                }
                Ok(Ok(resp)) if resp.status().is_success() => return Ok(Sent::Answer(resp)),
                Ok(Ok(resp))
                    if resp.status().as_u16() == 429 || resp.status().is_server_error() =>
                {
                    let status = resp.status().as_u16();
                    if last {
                        return Err(LlmError::Overloaded {
                            url: self.url.clone(),
                            status,
                            attempts,
                        });
                    }
                    tracing::warn!(url = %self.url, attempt, status, "llm endpoint busy, retrying");
                    resp.headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<f64>().ok())
                        .map(|s| Duration::from_secs_f64(s.clamp(0.0, 30.0)))
                        .unwrap_or(backoff)
                }
                Ok(Ok(resp)) => {
                    let status = resp.status();
                    let text = tokio::select! {
                        _ = &mut out_of_time => String::new(),
                        t = resp.text() => t.unwrap_or_default(),
                    };
                    return Err(self.err(format!("answered {status}{}", error_kind(&text))));
                }
            };
            tokio::select! {
                biased;
                _ = request.cancel.cancelled() => return Ok(Sent::Cancelled),
                _ = &mut out_of_time => return Ok(Sent::OutOfTime),
                _ = tokio::time::sleep(wait) => {}
            }
            backoff *= 2;
        }
        Err(self.err("no attempt was made"))
    }

    async fn run(self, request: GenerationRequest, events: EventSender) {
        let started = Instant::now();
        let result = self.stream(&request, &events, started).await;
        let result = match result {
            Ok(out) => match &request.constraint {
                Some(c) if out.stop_reason == StopReason::Eos && !c.accepts(out.text.trim()) => {
                    Err(LlmError::ConstraintViolated { output: out.text })
                }
                _ => Ok(out),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => {
                let _ = events.send(Ok(GenerationEvent::Done(out)));
            }
            Err(e) => {
                tracing::warn!(conversation_id = %request.conversation_id, error = %e, "remote generation failed");
                let _ = events.send(Err(e));
            }
        }
    }

    async fn stream(
        &self,
        request: &GenerationRequest,
        events: &EventSender,
        started: Instant,
    ) -> Result<GenerationOutput, LlmError> {
        request.params.validate()?;
        let mut usage = GenerationUsage::default();
        let mut text = TextAssembler::new(request.params.stop.clone());
        let emit = |t: String, usage: &mut GenerationUsage| {
            if !t.is_empty() {
                if usage.time_to_first_token_ms == 0.0 {
                    usage.time_to_first_token_ms = started.elapsed().as_secs_f64() * 1000.0;
                }
                let _ = events.send(Ok(GenerationEvent::Delta(t)));
            }
        };
        let finish = |reason: StopReason, text: &TextAssembler, mut usage: GenerationUsage| {
            usage.total_ms = started.elapsed().as_secs_f64() * 1000.0;
            if usage.time_to_first_token_ms == 0.0 {
                usage.time_to_first_token_ms = usage.total_ms;
            }
            Ok(GenerationOutput {
                text: text.text().to_owned(),
                stop_reason: reason,
                usage,
            })
        };
        let body = self.body(request);
        let deadline = request
            .params
            .time_budget
            .map(|b| tokio::time::Instant::from_std(started + b));
        let resp = match self.connect(request, &body, deadline).await? {
            Sent::Answer(resp) => resp,
            Sent::Cancelled => return finish(StopReason::Cancelled, &text, usage),
            Sent::OutOfTime => return finish(StopReason::TimeBudget, &text, usage),
        };
        let idle = Duration::from_millis(self.config.idle_timeout_ms);
        let mut bytes = resp.bytes_stream();
        let mut buffer: Vec<u8> = Vec::new();
        loop {
            let budget = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            let chunk = tokio::select! {
                biased;
                _ = request.cancel.cancelled() => return finish(StopReason::Cancelled, &text, usage),
                _ = budget => return finish(StopReason::TimeBudget, &text, usage),
                c = tokio::time::timeout(idle, bytes.next()) => c,
            };
            let chunk = match chunk {
                Err(_) => {
                    return Err(self.disconnected(format!("no data for {} ms", idle.as_millis())))
                }
                Ok(None) => return Err(self.disconnected("the connection closed without [DONE]")),
                Ok(Some(Err(e))) => return Err(self.disconnected(e)),
                Ok(Some(Ok(c))) => c,
            };
            buffer.extend_from_slice(&chunk);
            while let Some(nl) = buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=nl).collect();
                let line = String::from_utf8_lossy(&line);
                let Some(data) = line.trim().strip_prefix("data:") else {
                    continue;
                };
                let data = data.trim();
                if data == "[DONE]" {
                    let out = text.flush();
                    emit(out, &mut usage);
                    return finish(StopReason::Eos, &text, usage);
                }
                let v: Value = serde_json::from_str(data)
                    .map_err(|e| self.err(format!("bad event {data:?}: {e}")))?;
                if let Some(n) = v["usage"]["completion_tokens"].as_u64() {
                    usage.completion_tokens = n as usize;
                }
                if let Some(n) = v["usage"]["prompt_tokens"].as_u64() {
                    usage.prompt_tokens = n as usize;
                    usage.processed_prompt_tokens = n as usize;
                }
                let choice = &v["choices"][0];
                // The refusal's text is not kept: it may quote the conversation.
                if choice["delta"]["refusal"]
                    .as_str()
                    .is_some_and(|r| !r.is_empty())
                {
                    return Err(self.refused("the model sent a refusal"));
                }
                if choice["finish_reason"].as_str() == Some("content_filter") {
                    return Err(self.refused("finish_reason content_filter"));
                }
                if let Some(delta) = choice["delta"]["content"].as_str() {
                    usage.completion_tokens += 1;
                    match text.push(delta) {
                        Pushed::Emit(t) => emit(t, &mut usage),
                        Pushed::Stopped(t) => {
                            emit(t, &mut usage);
                            return finish(StopReason::Stop, &text, usage);
                        }
                    }
                }
                match choice["finish_reason"].as_str() {
                    Some("length") => {
                        emit(text.flush(), &mut usage);
                        return finish(StopReason::MaxTokens, &text, usage);
                    }
                    Some(_) => {
                        emit(text.flush(), &mut usage);
                        return finish(StopReason::Eos, &text, usage);
                    }
                    None => {}
                }
            }
        }
    }
}

impl LanguageModel for OpenAiModel {
    fn generate(&self, request: GenerationRequest) -> Result<GenerationStream, LlmError> {
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| self.err("the HTTP backend needs a tokio runtime"))?;
        let (events, stream) = GenerationStream::channel();
        handle.spawn(self.clone().run(request, events));
        Ok(stream)
    }

    fn describe(&self) -> String {
        format!("openai-compatible {} at {}", self.config.model, self.url)
    }
}

/// The kind of an OpenAI-style error body (`{"error": {"type": …, "code": …}}`), for logs:
/// its message is left out, as a server may quote the conversation in it, and logs hold no
/// customer text.
fn error_kind(body: &str) -> String {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return String::new();
    };
    let error = &value["error"];
    let field = |name: &str| {
        error[name]
            .as_str()
            .map(str::to_owned)
            .or_else(|| error[name].as_i64().map(|n| n.to_string()))
            .filter(|s| s.len() <= 64 && !s.is_empty())
    };
    let parts: Vec<String> = ["type", "code"].into_iter().filter_map(field).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

#[cfg(test)]
mod error_kind_tests {
    #[test]
    fn an_error_body_gives_its_kind_and_never_its_message() {
        let body = r#"{"error":{"message":"your messages: 'my card is 4111 1111 1111 1111' are too long","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
        let kind = super::error_kind(body);
        assert_eq!(kind, " (invalid_request_error, context_length_exceeded)");
        assert_eq!(
            super::error_kind("<html>Bad gateway: my card is 4111</html>"),
            ""
        );
    }
}
