//! The reference our engine is compared with: greedy decoding through
//! candle's stock forward pass of a GGUF model, on the same prompt tokens.

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};

/// A stock model that can be loaded from a GGUF file and stepped.
pub trait StockModel: Sized {
    fn load(content: gguf_file::Content, file: &mut std::fs::File) -> candle_core::Result<Self>;
    fn step(&mut self, input: &Tensor, pos: usize) -> candle_core::Result<Tensor>;
}

impl StockModel for candle_transformers::models::quantized_llama::ModelWeights {
    fn load(content: gguf_file::Content, file: &mut std::fs::File) -> candle_core::Result<Self> {
        Self::from_gguf(content, file, &Device::Cpu)
    }
    fn step(&mut self, input: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        self.forward(input, pos)
    }
}

impl StockModel for candle_transformers::models::quantized_qwen2::ModelWeights {
    fn load(content: gguf_file::Content, file: &mut std::fs::File) -> candle_core::Result<Self> {
        Self::from_gguf(content, file, &Device::Cpu)
    }
    fn step(&mut self, input: &Tensor, pos: usize) -> candle_core::Result<Tensor> {
        self.forward(input, pos)
    }
}

/// Up to `max_tokens` greedy tokens after `prompt` (stopping at any of
/// `eos`), decoded by the stock model `M` from the GGUF file at `path`.
pub async fn greedy<M: StockModel>(
    path: std::path::PathBuf,
    prompt: Vec<u32>,
    eos: Vec<u32>,
    max_tokens: usize,
) -> Vec<u32> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path).unwrap();
        let content = gguf_file::Content::read(&mut file).unwrap();
        let mut weights = M::load(content, &mut file).unwrap();
        let (mut out, mut input, mut pos) = (Vec::new(), prompt, 0);
        for _ in 0..max_tokens {
            let x = Tensor::new(input.as_slice(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let logits: Vec<f32> = weights
                .step(&x, pos)
                .unwrap()
                .squeeze(0)
                .unwrap()
                .to_vec1()
                .unwrap();
            pos += input.len();
            let next = (0..logits.len())
                .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                .unwrap() as u32;
            if eos.contains(&next) {
                break;
            }
            out.push(next);
            input = vec![next];
        }
        out
    })
    .await
    .unwrap()
}
