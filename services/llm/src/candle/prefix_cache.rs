//! Per-conversation prefix cache: the keys and values of the tokens a conversation has already
//! run through the model, kept between turns so a new turn only processes its new tokens.
//! Bounded by entry count and bytes; the least recently used conversation loses its cache first.
//! A conversation without an entry starts from the longest matching prefix of any other
//! entry (typically the shared system prompt), cloned.

use std::collections::HashMap;

use super::forward::KvCache;

struct Entry {
    tokens: Vec<u32>,
    kv: KvCache,
    last_used: u64,
}

/// The cache; owned by the engine thread.
pub(crate) struct PrefixCache {
    entries: HashMap<String, Entry>,
    max_entries: usize,
    max_bytes: usize,
    clock: u64,
}

/// Shortest shared prefix worth copying from another conversation.
const MIN_SHARED_TOKENS: usize = 16;

impl PrefixCache {
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: HashMap::new(),
            max_entries,
            max_bytes,
            clock: 0,
        }
    }

    /// Takes the best cache for `tokens`: the conversation's own entry (removed while the
    /// conversation runs) or a clone of another's. Returns the cache and how many of its tokens
    /// match the start of `tokens`; the caller truncates to what it reuses.
    pub(crate) fn take(&mut self, conversation: &str, tokens: &[u32]) -> (KvCache, usize) {
        let own = self.entries.remove(conversation).map(|e| {
            let n = common_prefix(&e.tokens, tokens);
            (e.kv, n)
        });
        let own_len = own.as_ref().map_or(0, |o| o.1);
        let shared = self
            .entries
            .values_mut()
            .map(|e| (common_prefix(&e.tokens, tokens), e))
            .filter(|(n, _)| *n >= MIN_SHARED_TOKENS && *n > own_len)
            .max_by_key(|(n, _)| *n);
        if let Some((n, e)) = shared {
            self.clock += 1;
            e.last_used = self.clock;
            return (e.kv.clone(), n);
        }
        own.unwrap_or_default()
    }

    /// Stores a conversation's cache; `tokens` are exactly the tokens in `kv`.
    pub(crate) fn put(&mut self, conversation: String, tokens: Vec<u32>, kv: KvCache) {
        debug_assert_eq!(tokens.len(), kv.len());
        self.clock += 1;
        self.entries.insert(
            conversation,
            Entry {
                tokens,
                kv,
                last_used: self.clock,
            },
        );
        while self.entries.len() > self.max_entries
            || (self.bytes() > self.max_bytes && self.entries.len() > 1)
        {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            tracing::debug!(conversation = %oldest, "prefix cache evicts least recently used conversation");
            self.entries.remove(&oldest);
        }
        if self.bytes() > self.max_bytes {
            self.entries.clear();
        }
    }

    /// Forgets a conversation (it ended).
    pub(crate) fn remove(&mut self, conversation: &str) {
        self.entries.remove(conversation);
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.entries.values().map(|e| e.kv.bytes()).sum()
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
