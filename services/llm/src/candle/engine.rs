//! The engine thread: owns the weights and the prefix cache, takes jobs from a channel and
//! advances them one step at a time in round-robin order, one active job per conversation.
//!
//! Scheduling: a step is one prompt chunk or one generated token, so a long prompt in one
//! conversation delays another conversation's next token by at most one chunk, and no
//! conversation starves. Jobs are not batched together: on two CPU cores a single-row decode
//! already keeps both cores busy, and batching rows of different lengths would need padded
//! attention for little gain; interleaving keeps every conversation's latency predictable.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use tokenizers::Tokenizer;

use super::forward::{KvCache, Transformer};
use super::gguf::ChatTemplate;
use super::prefix_cache::PrefixCache;
use super::EngineStats;
use crate::constraint::{MatchState, Matcher};
use crate::sampler::Sampler;
use crate::text::{Pushed, TextAssembler};
use crate::types::EventSender;
use crate::{
    GenerationEvent, GenerationOutput, GenerationRequest, GenerationUsage, LlmError, StopReason,
};

/// Work for the engine thread.
pub(crate) enum Command {
    Generate {
        request: GenerationRequest,
        events: EventSender,
        submitted: Instant,
    },
    Forget(String),
}

/// What the engine thread owns.
pub(crate) struct Engine {
    pub model: Transformer,
    pub tokenizer: Arc<Tokenizer>,
    pub template: Arc<ChatTemplate>,
    pub eos_ids: Vec<u32>,
    pub vocab_size: usize,
    pub context_tokens: usize,
    pub prefill_chunk: usize,
    pub cache: PrefixCache,
    pub stats: Arc<EngineStats>,
    /// Text of every token, grouped by first character, for constraints; built on first use.
    pub token_texts: Option<TokenTexts>,
}

struct Job {
    request: GenerationRequest,
    events: EventSender,
    submitted: Instant,
    /// Prompt tokens, then generated tokens as they are fed.
    tokens: Vec<u32>,
    prompt_len: usize,
    kv: KvCache,
    logits: Option<Vec<f32>>,
    sampler: Sampler,
    text: TextAssembler,
    matcher: Option<(Matcher, MatchState)>,
    generated: usize,
    undecoded: Vec<u32>,
    usage: GenerationUsage,
}

enum Step {
    Continue,
    Done(StopReason),
}

impl Engine {
    /// Runs until every sender is gone.
    pub(crate) fn run(mut self, rx: mpsc::Receiver<Command>) {
        let mut active: VecDeque<Job> = VecDeque::new();
        let mut waiting: VecDeque<Command> = VecDeque::new();
        loop {
            if active.is_empty() && waiting.is_empty() {
                match rx.recv() {
                    Ok(cmd) => waiting.push_back(cmd),
                    Err(_) => return,
                }
            }
            waiting.extend(rx.try_iter());
            self.admit(&mut active, &mut waiting);
            let Some(mut job) = active.pop_front() else {
                continue;
            };
            match self.step(&mut job) {
                Ok(Step::Continue) => active.push_back(job),
                Ok(Step::Done(reason)) => self.finish(job, reason),
                Err(e) => {
                    // The cache may be half-updated: drop it with the job.
                    tracing::error!(conversation_id = %job.request.conversation_id, error = %e, "generation failed");
                    let _ = job.events.send(Err(e));
                }
            }
        }
    }

    /// Moves waiting jobs of conversations that have no active job into the active ring.
    fn admit(&mut self, active: &mut VecDeque<Job>, waiting: &mut VecDeque<Command>) {
        let mut still_waiting = VecDeque::new();
        while let Some(cmd) = waiting.pop_front() {
            match cmd {
                Command::Forget(conv) => self.cache.remove(&conv),
                Command::Generate {
                    request,
                    events,
                    submitted,
                } => {
                    let busy = active.iter().any(|j| j.request.conversation_id == request.conversation_id)
                        || still_waiting.iter().any(|c| matches!(c, Command::Generate { request: r, .. } if r.conversation_id == request.conversation_id));
                    if busy {
                        still_waiting.push_back(Command::Generate {
                            request,
                            events,
                            submitted,
                        });
                        continue;
                    }
                    match self.prepare(request, events.clone(), submitted) {
                        Ok(job) => active.push_back(job),
                        Err(e) => {
                            tracing::warn!(error = %e, "generation request rejected");
                            let _ = events.send(Err(e));
                        }
                    }
                }
            }
        }
        *waiting = still_waiting;
    }

    /// Renders and tokenizes the prompt (dropping the oldest turns if it does not fit) and
    /// picks up the conversation's cached prefix.
    fn prepare(
        &mut self,
        request: GenerationRequest,
        events: EventSender,
        submitted: Instant,
    ) -> Result<Job, LlmError> {
        request.params.validate()?;
        if request.messages.is_empty() {
            return Err(LlmError::InvalidRequest("no messages".into()));
        }
        let matcher = match &request.constraint {
            Some(c) => {
                let m = c.compile()?;
                let s = m.start();
                if self.token_texts.is_none() {
                    self.token_texts = Some(TokenTexts::new(&self.tokenizer, self.vocab_size));
                }
                Some((m, s))
            }
            None => None,
        };
        let fitted = fit_prompt(
            &self.template,
            &self.tokenizer,
            self.context_tokens,
            &request.messages,
            request.params.max_tokens,
        )?;
        if fitted.dropped_messages > 0 || fitted.dropped_tokens > 0 {
            tracing::warn!(conversation_id = %request.conversation_id, prompt_tokens = fitted.tokens.len(), dropped_messages = fitted.dropped_messages, dropped_tokens = fitted.dropped_tokens, "prompt too long for the context window: dropped the oldest turns");
        }
        let tokens = fitted.tokens;
        let (mut kv, common) = self.cache.take(&request.conversation_id, &tokens);
        // At least one token must run to produce logits.
        let reuse = common.min(tokens.len() - 1);
        kv.truncate(reuse)?;
        let usage = GenerationUsage {
            prompt_tokens: tokens.len(),
            cached_prompt_tokens: reuse,
            processed_prompt_tokens: tokens.len() - reuse,
            dropped_messages: fitted.dropped_messages,
            dropped_prompt_tokens: fitted.dropped_tokens,
            ..Default::default()
        };
        self.stats
            .cached_prompt_tokens
            .fetch_add(reuse as u64, Ordering::Relaxed);
        tracing::debug!(conversation_id = %request.conversation_id, prompt_tokens = tokens.len(), cached = reuse, "generation admitted");
        Ok(Job {
            sampler: Sampler::new(&request.params),
            text: TextAssembler::new(request.params.stop.clone()),
            prompt_len: tokens.len(),
            tokens,
            kv,
            logits: None,
            matcher,
            generated: 0,
            undecoded: Vec::new(),
            usage,
            request,
            events,
            submitted,
        })
    }

    /// One prompt chunk or one generated token.
    fn step(&mut self, job: &mut Job) -> Result<Step, LlmError> {
        if job.request.cancel.is_cancelled() || job.events.is_closed() {
            return Ok(Step::Done(StopReason::Cancelled));
        }
        if let Some(budget) = job.request.params.time_budget {
            if job.submitted.elapsed() >= budget {
                return Ok(Step::Done(StopReason::TimeBudget));
            }
        }
        let fed = job.kv.len();
        if fed < job.prompt_len {
            let end = (fed + self.prefill_chunk.max(1)).min(job.prompt_len);
            job.logits = Some(self.model.forward(&job.tokens[fed..end], &mut job.kv)?);
            self.stats
                .prompt_tokens_processed
                .fetch_add((end - fed) as u64, Ordering::Relaxed);
            if end < job.prompt_len {
                return Ok(Step::Continue);
            }
        }
        let Some(mut logits) = job.logits.take() else {
            return Err(LlmError::Inference("no logits to sample from".into()));
        };
        let allowed = self.allowed_tokens(job);
        if allowed.as_ref().is_some_and(Vec::is_empty) {
            return Err(LlmError::Inference(
                "the constraint cannot be met with this vocabulary".into(),
            ));
        }
        if job.generated < job.request.params.min_tokens && allowed.is_none() {
            for &e in &self.eos_ids {
                if let Some(l) = logits.get_mut(e as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        }
        let token = job
            .sampler
            .sample(&mut logits, &job.tokens, allowed.as_deref());
        if self.eos_ids.contains(&token) {
            return Ok(Step::Done(StopReason::Eos));
        }
        job.generated += 1;
        self.stats.generated_tokens.fetch_add(1, Ordering::Relaxed);
        job.undecoded.push(token);
        let piece = self
            .tokenizer
            .decode(&job.undecoded, true)
            .unwrap_or_default();
        if !piece.ends_with('\u{FFFD}') || job.undecoded.len() >= 4 {
            job.undecoded.clear();
            if let Some((m, s)) = job.matcher.as_mut() {
                if let Some(next) = m.step_str(s, &piece) {
                    *s = next;
                }
            }
            match job.text.push(&piece) {
                Pushed::Emit(t) => self.emit(job, t),
                Pushed::Stopped(t) => {
                    self.emit(job, t);
                    return Ok(Step::Done(StopReason::Stop));
                }
            }
        }
        if let Some((m, s)) = &job.matcher {
            if m.is_complete(s) && !m.can_continue(s) {
                return Ok(Step::Done(StopReason::Eos));
            }
        }
        if job.generated >= job.request.params.max_tokens
            || job.kv.len() + 1 >= self.model.max_positions
        {
            return Ok(Step::Done(StopReason::MaxTokens));
        }
        job.logits = Some(self.model.forward(&[token], &mut job.kv)?);
        job.tokens.push(token);
        Ok(Step::Continue)
    }

    fn emit(&self, job: &mut Job, text: String) {
        if text.is_empty() {
            return;
        }
        if job.usage.time_to_first_token_ms == 0.0 {
            job.usage.time_to_first_token_ms = ms(job.submitted);
        }
        let _ = job.events.send(Ok(GenerationEvent::Delta(text)));
    }

    /// Tokens a constraint allows next (end-of-sequence when the output is complete). Most
    /// tokens fail on their first character, so that is checked once per distinct character.
    fn allowed_tokens(&self, job: &Job) -> Option<Vec<u32>> {
        let (m, s) = job.matcher.as_ref()?;
        let texts = self.token_texts.as_ref()?;
        let mut ids = Vec::new();
        for (&c, group) in &texts.by_first_char {
            if m.step(s, c).is_none() {
                continue;
            }
            ids.extend(
                group
                    .iter()
                    .copied()
                    .filter(|&id| m.step_str(s, &texts.texts[id as usize]).is_some()),
            );
        }
        ids.sort_unstable();
        if m.is_complete(s) {
            ids.extend(self.eos_ids.iter().copied());
        }
        Some(ids)
    }

    fn finish(&mut self, mut job: Job, reason: StopReason) {
        if reason != StopReason::Stop {
            let rest = job.text.flush();
            self.emit(&mut job, rest);
        }
        job.usage.completion_tokens = job.generated;
        job.usage.total_ms = ms(job.submitted);
        if job.usage.time_to_first_token_ms == 0.0 {
            job.usage.time_to_first_token_ms = job.usage.total_ms;
        }
        self.stats.generations.fetch_add(1, Ordering::Relaxed);
        let out = GenerationOutput {
            text: job.text.text().to_owned(),
            stop_reason: reason,
            usage: job.usage,
        };
        tracing::debug!(conversation_id = %job.request.conversation_id, stop_reason = ?reason, tokens = out.usage.completion_tokens, total_ms = out.usage.total_ms, "generation finished");
        let _ = job.events.send(Ok(GenerationEvent::Done(out)));
        let fed = job.kv.len();
        job.tokens.truncate(fed);
        if fed > 0 {
            self.cache
                .put(job.request.conversation_id, job.tokens, job.kv);
        }
        self.stats
            .cache_entries
            .store(self.cache.len(), Ordering::Relaxed);
        self.stats
            .cache_bytes
            .store(self.cache.bytes(), Ordering::Relaxed);
    }
}

/// A prompt that fits the context window.
pub(crate) struct FittedPrompt {
    pub tokens: Vec<u32>,
    pub dropped_messages: usize,
    pub dropped_tokens: usize,
}

/// Renders and tokenizes `messages`, leaving room for `max_tokens` (at most half the window):
/// the oldest non-system messages go first, the last message always stays; if it alone is
/// still too long, its oldest tokens are cut.
pub(crate) fn fit_prompt(
    template: &ChatTemplate,
    tokenizer: &Tokenizer,
    context_tokens: usize,
    messages: &[crate::ChatMessage],
    max_tokens: usize,
) -> Result<FittedPrompt, LlmError> {
    let tokenize = |messages: &[crate::ChatMessage]| -> Result<Vec<u32>, LlmError> {
        let prompt = template.render(messages)?;
        let enc = tokenizer
            .encode(prompt, false)
            .map_err(|e| LlmError::Template(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().to_vec())
    };
    let budget = context_tokens
        .saturating_sub(max_tokens)
        .max(context_tokens / 2);
    let mut messages = messages.to_vec();
    let mut tokens = tokenize(&messages)?;
    let mut dropped_messages = 0;
    while tokens.len() > budget {
        let Some(oldest) = messages.iter().position(|m| m.role != crate::Role::System) else {
            break;
        };
        if oldest + 1 >= messages.len() {
            break;
        }
        messages.remove(oldest);
        dropped_messages += 1;
        // Keep turns whole: a reply without its question goes with it.
        if oldest + 1 < messages.len() && messages[oldest].role == crate::Role::Assistant {
            messages.remove(oldest);
            dropped_messages += 1;
        }
        tokens = tokenize(&messages)?;
    }
    let dropped_tokens = tokens.len().saturating_sub(budget);
    tokens.drain(..dropped_tokens);
    Ok(FittedPrompt {
        tokens,
        dropped_messages,
        dropped_tokens,
    })
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The text of each token alone; special tokens and partial characters give strings that no
/// constraint accepts.
pub(crate) struct TokenTexts {
    texts: Vec<String>,
    by_first_char: std::collections::HashMap<char, Vec<u32>>,
}

impl TokenTexts {
    fn new(tokenizer: &Tokenizer, vocab: usize) -> Self {
        let texts: Vec<String> = (0..vocab as u32)
            .map(|id| tokenizer.decode(&[id], true).unwrap_or_default())
            .collect();
        let mut by_first_char: std::collections::HashMap<char, Vec<u32>> = Default::default();
        for (id, t) in texts.iter().enumerate() {
            if let Some(c) = t.chars().next() {
                by_first_char.entry(c).or_default().push(id as u32);
            }
        }
        Self {
            texts,
            by_first_char,
        }
    }
}
