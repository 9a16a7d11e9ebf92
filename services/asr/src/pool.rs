//! The whisper worker pool: `workers` dedicated threads, each owning one
//! decoding state per loaded model, fed by a bounded queue. A recognition
//! waits in the queue when every worker is busy; when the queue is full it
//! is refused at once with [`AsrError::Busy`]. Finals go before partials:
//! a final takes the place of a queued partial when the queue is full, and
//! a running partial stops (whisper.cpp's abort callback) as soon as a
//! final waits and goes back to the head of the partials, so a partial
//! never delays a final and is never lost to one. A job whose caller has
//! gone (stream closed, partial superseded, pause resumed) is skipped, or
//! stopped if it is running, so a dropped stream frees its place at once.
//! A watchdog stops a recognition that runs past `job_deadline_ms` (a
//! decoder stuck in a repetition loop, a machine far behind) and marks the
//! pool unhealthy until a recognition finishes in time again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::oneshot;
use whisper_rs::WhisperState;

use crate::recognizer::{LanguageChoice, Pass, RecognitionRequest, Recognizer, Transcript};
use crate::whisper::{decode, detect_language, DecodeSettings, WhisperModel};
use crate::AsrError;

/// Settings of the pool.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Worker threads (recognitions at once).
    pub workers: u32,
    /// CPU threads per recognition.
    pub threads: u32,
    /// Recognitions that may wait.
    pub queue_depth: u32,
    /// Longest one recognition may run, in ms (the watchdog).
    pub job_deadline_ms: u32,
    /// Languages `auto` chooses from.
    pub languages: Vec<String>,
    /// See [`DecodeSettings::no_speech_threshold`].
    pub no_speech_threshold: f32,
    /// Beam width of final passes with the multilingual model.
    pub beam_size_multilingual: u32,
    /// See [`DecodeSettings::encoder_margin_ms`]; 0: the full 30 s.
    pub encoder_margin_ms: u32,
    /// The same for partial passes.
    pub partial_encoder_margin_ms: u32,
    /// The same for final passes of the multilingual model.
    pub multilingual_encoder_margin_ms: u32,
}

/// The models a pool serves: English-only and/or multilingual.
#[derive(Clone, Default)]
pub struct Models {
    /// English-only model (tiny.en by default).
    pub english: Option<Arc<WhisperModel>>,
    /// Multilingual model (base by default): other languages and `auto`.
    pub multilingual: Option<Arc<WhisperModel>>,
}

struct Job {
    request: RecognitionRequest,
    reply: oneshot::Sender<Result<Transcript, AsrError>>,
    enqueued: Instant,
}

/// Waiting jobs, finals first.
#[derive(Default)]
struct Waiting {
    finals: VecDeque<Job>,
    partials: VecDeque<Job>,
}

/// The queue the workers share.
#[derive(Default)]
struct Queue {
    waiting: Mutex<Waiting>,
    ready: Condvar,
    /// Finals queued and not yet taken by a worker: a running partial
    /// stops while this is above zero.
    finals_waiting: AtomicUsize,
    /// Set when the watchdog stopped a recognition, cleared when one
    /// finishes in time.
    stalled: AtomicBool,
}

/// A pool of whisper.cpp workers; the real [`Recognizer`].
pub struct WhisperPool {
    queue: Arc<Queue>,
    settings: PoolSettings,
    models: Models,
}

/// Which loaded model decodes a language.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route {
    English,
    Multilingual,
}

impl WhisperPool {
    /// Creates the decoding states and starts the workers. Blocking.
    pub fn start(models: Models, settings: PoolSettings) -> Result<Self, AsrError> {
        if models.english.is_none() && models.multilingual.is_none() {
            return Err(AsrError::Inference {
                engine: "whisper",
                reason: "no model loaded".into(),
            });
        }
        let queue = Arc::new(Queue::default());
        for index in 0..settings.workers {
            let english = models.english.as_ref().map(|m| m.new_state()).transpose()?;
            let multilingual = models
                .multilingual
                .as_ref()
                .map(|m| m.new_state())
                .transpose()?;
            let worker = Worker {
                english,
                multilingual,
                settings: settings.clone(),
            };
            let jobs = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("whisper-{index}"))
                .spawn(move || worker.run(&jobs))
                .map_err(|e| AsrError::Inference {
                    engine: "whisper",
                    reason: format!("cannot start a worker thread: {e}"),
                })?;
        }
        tracing::info!(
            workers = settings.workers,
            threads = settings.threads,
            queue_depth = settings.queue_depth,
            "whisper pool started"
        );
        Ok(Self {
            queue,
            settings,
            models,
        })
    }

    /// False from the watchdog stopping a recognition until one finishes
    /// in time again.
    pub fn healthy(&self) -> bool {
        !self.queue.stalled.load(Ordering::SeqCst)
    }

    /// Checks that a language can be recognized, before any audio is sent.
    pub fn check_language(&self, language: &LanguageChoice) -> Result<(), AsrError> {
        route(&self.models, language, &self.settings.languages).map(|_| ())
    }
}

/// Whether `auto` needs the multilingual model: several languages to choose among, or one
/// that is not English (`languages = ["it"]` is Italian, never tiny.en).
fn auto_is_multilingual(allowed: &[String]) -> bool {
    allowed.len() > 1 || allowed.first().is_some_and(|l| l != "en")
}

fn route(
    models: &Models,
    language: &LanguageChoice,
    allowed: &[String],
) -> Result<Route, AsrError> {
    let available = || {
        let mut names = Vec::new();
        if models.english.is_some() {
            names.push("en".to_owned());
        }
        if models.multilingual.is_some() {
            names.push("any Whisper language (it, de, fr, ...)".to_owned());
        }
        names.push("auto".into());
        names.join(", ")
    };
    match language {
        LanguageChoice::Auto if models.multilingual.is_some() && auto_is_multilingual(allowed) => {
            Ok(Route::Multilingual)
        }
        LanguageChoice::Auto => Ok(if models.english.is_some() {
            Route::English
        } else {
            Route::Multilingual
        }),
        LanguageChoice::Fixed(tag) if tag == "en" && models.english.is_some() => Ok(Route::English),
        LanguageChoice::Fixed(tag)
            if models.multilingual.is_some() && whisper_rs::get_lang_id(tag).is_some() =>
        {
            Ok(Route::Multilingual)
        }
        LanguageChoice::Fixed(tag) => Err(AsrError::UnsupportedLanguage {
            language: tag.clone(),
            allowed: available(),
        }),
    }
}

impl WhisperPool {
    /// Queues a job, finals ahead of partials; refuses it when the queue
    /// is full (a final first evicts the newest queued partial).
    fn enqueue(&self, job: Job) -> Result<(), AsrError> {
        let queue = &self.queue;
        let mut waiting = queue.waiting.lock().map_err(|_| AsrError::Stopped)?;
        // Jobs whose callers have gone hold no place.
        waiting.finals.retain(|j| !j.reply.is_closed());
        waiting.partials.retain(|j| !j.reply.is_closed());
        queue
            .finals_waiting
            .store(waiting.finals.len(), Ordering::SeqCst);
        let full =
            waiting.finals.len() + waiting.partials.len() >= self.settings.queue_depth as usize;
        let busy = AsrError::Busy {
            queued: self.settings.queue_depth,
        };
        match job.request.pass {
            Pass::Partial if full => return Err(busy),
            Pass::Partial => waiting.partials.push_back(job),
            Pass::Final => {
                if full {
                    let Some(evicted) = waiting.partials.pop_back() else {
                        return Err(busy);
                    };
                    let _ = evicted.reply.send(Err(AsrError::Busy {
                        queued: self.settings.queue_depth,
                    }));
                }
                waiting.finals.push_back(job);
                queue.finals_waiting.fetch_add(1, Ordering::SeqCst);
            }
        }
        drop(waiting);
        queue.ready.notify_one();
        Ok(())
    }
}

impl Recognizer for WhisperPool {
    fn recognize(
        &self,
        request: RecognitionRequest,
    ) -> BoxFuture<'static, Result<Transcript, AsrError>> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            request,
            reply,
            enqueued: Instant::now(),
        };
        let sent = self.enqueue(job);
        async move {
            sent?;
            answer.await.map_err(|_| AsrError::Stopped)?
        }
        .boxed()
    }
}

struct Worker {
    english: Option<WhisperState>,
    multilingual: Option<WhisperState>,
    settings: PoolSettings,
}

impl Worker {
    fn run(mut self, queue: &Queue) {
        loop {
            let job = {
                let Ok(mut waiting) = queue.waiting.lock() else {
                    return;
                };
                loop {
                    if let Some(job) = waiting.finals.pop_front() {
                        queue.finals_waiting.fetch_sub(1, Ordering::SeqCst);
                        break job;
                    }
                    if let Some(job) = waiting.partials.pop_front() {
                        break job;
                    }
                    waiting = match queue.ready.wait(waiting) {
                        Ok(w) => w,
                        Err(_) => return,
                    };
                }
            };
            if job.reply.is_closed() {
                tracing::debug!("recognition skipped: its caller has gone");
                continue;
            }
            let waited_ms = job.enqueued.elapsed().as_millis() as u64;
            let partial = job.request.pass == Pass::Partial;
            let reply = &job.reply;
            let started = Instant::now();
            let deadline = Duration::from_millis(u64::from(self.settings.job_deadline_ms));
            let abort = move || {
                reply.is_closed()
                    || (partial && queue.finals_waiting.load(Ordering::SeqCst) > 0)
                    || started.elapsed() > deadline
            };
            let mut result = self.recognize(&job.request, &abort);
            let ran = started.elapsed();
            if matches!(result, Err(AsrError::Aborted)) && ran > deadline && !job.reply.is_closed()
            {
                let ms = ran.as_millis() as u64;
                if !queue.stalled.swap(true, Ordering::SeqCst) {
                    tracing::warn!(ms, pass = ?job.request.pass, "watchdog: a recognition ran past asr.job_deadline_ms and was stopped; NOT_SERVING until one finishes in time");
                }
                result = Err(AsrError::Stalled { ms });
            }
            if result.is_ok() && queue.stalled.swap(false, Ordering::SeqCst) {
                tracing::info!("watchdog: a recognition finished in time again; SERVING");
            }
            match &result {
                Ok(t) => {
                    tracing::debug!(waited_ms, processing_ms = t.processing_ms, audio_ms = t.audio_ms, pass = ?job.request.pass, "recognized")
                }
                Err(AsrError::Aborted) if partial && !job.reply.is_closed() => {
                    // Preempted by a final, not cancelled: it runs again
                    // after the finals, so the caller's speech still gets
                    // its partial.
                    tracing::debug!(waited_ms, "partial preempted by a final; queued again");
                    if let Ok(mut waiting) = queue.waiting.lock() {
                        waiting.partials.push_front(job);
                        continue;
                    }
                    return;
                }
                Err(AsrError::Aborted) => {
                    tracing::debug!(waited_ms, pass = ?job.request.pass, "recognition stopped")
                }
                Err(_) => {}
            }
            let _ = job.reply.send(result);
        }
    }

    fn recognize(
        &mut self,
        request: &RecognitionRequest,
        abort: &(dyn Fn() -> bool + Sync),
    ) -> Result<Transcript, AsrError> {
        let mut settings = DecodeSettings {
            threads: self.settings.threads,
            no_speech_threshold: self.settings.no_speech_threshold,
            beam_size: 0,
            encoder_margin_ms: None,
        };
        let (language, state, multilingual) = match (
            &request.language,
            self.multilingual.as_mut(),
            self.english.as_mut(),
        ) {
            (LanguageChoice::Fixed(tag), _, Some(en)) if tag == "en" => {
                ("en".to_owned(), en, false)
            }
            (LanguageChoice::Fixed(tag), Some(multi), _) => (tag.clone(), multi, true),
            (LanguageChoice::Auto, Some(multi), _)
                if self.settings.languages.len() == 1
                    && auto_is_multilingual(&self.settings.languages) =>
            {
                // One configured language other than English: no detection, that language.
                (self.settings.languages[0].clone(), multi, true)
            }
            (LanguageChoice::Auto, Some(multi), english) if self.settings.languages.len() > 1 => {
                let (tag, _p) = detect_language(
                    multi,
                    &request.audio,
                    &self.settings.languages,
                    settings.threads,
                )?;
                match english {
                    Some(en) if tag == "en" => (tag, en, false),
                    _ => (tag, multi, true),
                }
            }
            (LanguageChoice::Auto, _, Some(en)) => ("en".to_owned(), en, false),
            (LanguageChoice::Auto, Some(multi), None) => {
                let tag = self
                    .settings
                    .languages
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "en".into());
                (tag, multi, true)
            }
            (LanguageChoice::Fixed(_), None, _) | (LanguageChoice::Auto, None, None) => {
                return Err(AsrError::UnsupportedLanguage {
                    language: tag_of(&request.language),
                    allowed: "en".into(),
                })
            }
        };
        if multilingual {
            settings.beam_size = self.settings.beam_size_multilingual;
        }
        let margin = match (request.pass, multilingual) {
            (Pass::Partial, _) => self.settings.partial_encoder_margin_ms,
            (Pass::Final, false) => self.settings.encoder_margin_ms,
            (Pass::Final, true) => self.settings.multilingual_encoder_margin_ms,
        };
        settings.encoder_margin_ms = (margin > 0).then_some(margin);
        decode(
            state,
            &request.audio,
            &language,
            request.pass,
            settings,
            abort,
        )
    }
}

fn tag_of(language: &LanguageChoice) -> String {
    match language {
        LanguageChoice::Auto => "auto".into(),
        LanguageChoice::Fixed(tag) => tag.clone(),
    }
}

#[cfg(test)]
mod language_tests {
    use super::auto_is_multilingual;

    #[test]
    fn auto_uses_the_multilingual_model_unless_english_is_the_only_language() {
        let langs = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(auto_is_multilingual(&langs(&["en", "it"])));
        assert!(auto_is_multilingual(&langs(&["it"])));
        assert!(!auto_is_multilingual(&langs(&["en"])));
        assert!(!auto_is_multilingual(&langs(&[])));
    }
}
