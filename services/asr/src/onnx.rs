//! The two ONNX models of the service, run through `ort` with the ONNX
//! Runtime library that the `onnxruntime` wheel ships (loaded at run time,
//! nothing downloaded at build time): Silero VAD on 32 ms frames and
//! Smart Turn v3.2 on the last 8 s of a turn. Sessions take `&mut self` to
//! run, so each is behind a mutex; a stream's VAD state lives with the
//! stream. See the README for why `ort` and not `tract`.

use std::path::Path;
use std::sync::Mutex;

use ndarray::{arr0, Array2, Array3};
use ort::session::Session;
use ort::value::Tensor;

use crate::mel::LogMel;
use crate::AsrError;

/// Samples per Silero frame at 16 kHz (32 ms).
pub const VAD_FRAME: usize = 512;
/// Samples of the previous frame Silero sees as context.
const VAD_CONTEXT: usize = 64;
/// Audio Smart Turn hears: the last 8 s at 16 kHz.
pub const TURN_WINDOW: usize = 8 * 16_000;

/// The process's ONNX Runtime environment, shared with the other services
/// that run ONNX models (one environment per process), from the shared
/// library at `library`.
pub fn environment(library: &Path) -> Result<ort::environment::Environment, AsrError> {
    parla_audio::onnx::environment(library).map_err(|e| AsrError::OnnxLoad {
        path: e.path,
        reason: e.reason,
    })
}

fn session(
    env: &ort::environment::Environment,
    path: &Path,
    threads: usize,
) -> Result<Session, AsrError> {
    let fail = |reason: String| AsrError::OnnxLoad {
        path: path.to_owned(),
        reason,
    };
    Session::builder(env)
        .map_err(|e| fail(e.to_string()))?
        .with_intra_threads(threads)
        .map_err(|e| fail(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| fail(e.to_string()))?
        .commit_from_file(path)
        .map_err(|e| fail(e.to_string()))
}

fn inference(engine: &'static str) -> impl Fn(ort::Error) -> AsrError {
    move |e| AsrError::Inference {
        engine,
        reason: e.to_string(),
    }
}

/// Silero VAD v6: the speech probability of each 32 ms frame.
pub struct SileroVad {
    session: Mutex<Session>,
}

/// The recurrent state of one stream's VAD.
#[derive(Clone)]
pub struct VadState {
    state: Vec<f32>,
    context: [f32; VAD_CONTEXT],
}

impl Default for VadState {
    fn default() -> Self {
        Self {
            state: vec![0.0; 2 * 128],
            context: [0.0; VAD_CONTEXT],
        }
    }
}

impl SileroVad {
    /// Loads `silero_vad.onnx`. Blocking.
    pub fn load(env: &ort::environment::Environment, path: &Path) -> Result<Self, AsrError> {
        Ok(Self {
            session: Mutex::new(session(env, path, 1)?),
        })
    }

    /// Speech probability of one frame of [`VAD_FRAME`] samples, advancing
    /// `state`.
    pub fn probability(&self, state: &mut VadState, frame: &[f32]) -> Result<f32, AsrError> {
        let fail = inference("silero-vad");
        let mut input = Vec::with_capacity(VAD_CONTEXT + VAD_FRAME);
        input.extend_from_slice(&state.context);
        input.extend_from_slice(frame);
        input.resize(VAD_CONTEXT + VAD_FRAME, 0.0);
        state
            .context
            .copy_from_slice(&input[input.len() - VAD_CONTEXT..]);
        let input = Array2::from_shape_vec((1, VAD_CONTEXT + VAD_FRAME), input).map_err(|e| {
            AsrError::Inference {
                engine: "silero-vad",
                reason: e.to_string(),
            }
        })?;
        let recurrent = Array3::from_shape_vec((2, 1, 128), state.state.clone()).map_err(|e| {
            AsrError::Inference {
                engine: "silero-vad",
                reason: e.to_string(),
            }
        })?;
        let mut session = self.session.lock().map_err(|_| AsrError::Stopped)?;
        let outputs = session
            .run(ort::inputs![
                "input" => Tensor::from_array(input).map_err(&fail)?,
                "state" => Tensor::from_array(recurrent).map_err(&fail)?,
                "sr" => Tensor::from_array(arr0(16_000i64)).map_err(&fail)?,
            ])
            .map_err(&fail)?;
        let (_, probability) = outputs["output"]
            .try_extract_tensor::<f32>()
            .map_err(&fail)?;
        let (_, next) = outputs["stateN"]
            .try_extract_tensor::<f32>()
            .map_err(&fail)?;
        state.state.copy_from_slice(next);
        Ok(probability.first().copied().unwrap_or(0.0))
    }
}

/// Smart Turn v3.2: the probability that a turn is complete, from how its
/// last 8 s sound (words and intonation).
pub struct SmartTurn {
    session: Mutex<Session>,
    mel: LogMel,
}

impl SmartTurn {
    /// Loads `smart-turn-v3.2-cpu.onnx`. Blocking.
    pub fn load(
        env: &ort::environment::Environment,
        path: &Path,
        threads: usize,
    ) -> Result<Self, AsrError> {
        Ok(Self {
            session: Mutex::new(session(env, path, threads)?),
            mel: LogMel::new(),
        })
    }

    /// Probability in [0, 1] that the speaker has finished, given the turn's
    /// audio so far (16 kHz; only the last 8 s count). Blocking, ~20 ms.
    pub fn probability(&self, turn_audio: &[f32]) -> Result<f32, AsrError> {
        let fail = inference("smart-turn");
        let tail = &turn_audio[turn_audio.len().saturating_sub(TURN_WINDOW)..];
        // Zero padding in front, then the feature extractor's
        // zero-mean unit-variance normalization of the whole window.
        let mut window = vec![0f32; TURN_WINDOW - tail.len()];
        window.extend_from_slice(tail);
        let mean = window.iter().map(|&x| x as f64).sum::<f64>() / window.len() as f64;
        let var = window
            .iter()
            .map(|&x| (x as f64 - mean).powi(2))
            .sum::<f64>()
            / window.len() as f64;
        let scale = 1.0 / (var + 1e-7).sqrt();
        for x in &mut window {
            *x = ((*x as f64 - mean) * scale) as f32;
        }
        let features = self.mel.compute(&window);
        let frames = features.len() / 80;
        let input =
            Array3::from_shape_vec((1, 80, frames), features).map_err(|e| AsrError::Inference {
                engine: "smart-turn",
                reason: e.to_string(),
            })?;
        let mut session = self.session.lock().map_err(|_| AsrError::Stopped)?;
        let outputs = session
            .run(ort::inputs!["input_features" => Tensor::from_array(input).map_err(&fail)?])
            .map_err(&fail)?;
        let (_, p) = outputs["logits"]
            .try_extract_tensor::<f32>()
            .map_err(&fail)?;
        Ok(p.first().copied().unwrap_or(0.0).clamp(0.0, 1.0))
    }
}
