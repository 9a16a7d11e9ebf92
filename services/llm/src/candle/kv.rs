//! The keys and values of the tokens a conversation has seen: per layer and kv head a plain
//! vector, appended in place one token at a time, cloned as an independent snapshot.

/// Keys and values of one layer: one vector per kv head, `[token][head_dim]`.
#[derive(Clone, Default)]
pub(crate) struct LayerKv {
    pub(crate) k: Vec<Vec<f32>>,
    pub(crate) v: Vec<Vec<f32>>,
}

impl LayerKv {
    pub(crate) fn new(heads: usize) -> Self {
        Self {
            k: vec![Vec::new(); heads],
            v: vec![Vec::new(); heads],
        }
    }

    /// Appends head-major `[kv_head][token][head_dim]` keys and values.
    pub(crate) fn append(&mut self, k: &[f32], v: &[f32]) {
        let per_head = k.len() / self.k.len().max(1);
        for (g, (hk, hv)) in self.k.iter_mut().zip(self.v.iter_mut()).enumerate() {
            hk.extend_from_slice(&k[g * per_head..(g + 1) * per_head]);
            hv.extend_from_slice(&v[g * per_head..(g + 1) * per_head]);
        }
    }
}

/// Keys and values of the tokens a conversation has seen, per layer.
#[derive(Clone, Default)]
pub(crate) struct KvCache {
    pub(crate) layers: Vec<LayerKv>,
    pub(crate) len: usize,
}

impl KvCache {
    /// Tokens cached.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keeps the first `n` tokens.
    pub(crate) fn truncate(&mut self, n: usize) -> candle_core::Result<()> {
        if n >= self.len {
            return Ok(());
        }
        let len = self.len.max(1);
        for l in self.layers.iter_mut() {
            for h in l.k.iter_mut().chain(l.v.iter_mut()) {
                h.truncate(n * (h.len() / len));
            }
        }
        self.len = n;
        Ok(())
    }

    /// Bytes held (f32 keys and values).
    pub(crate) fn bytes(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|l| l.k.iter().chain(&l.v))
            .map(|h| h.capacity() * 4)
            .sum()
    }
}
