//! The sentence encoder against its reference and on what classifiers need from it: the token
//! ids and vectors of the numpy code its weights ship with (`tests/data/use-reference.json`, which
//! says how it was made), SentencePiece's ids on odd text, paraphrases closer than unrelated
//! turns in and across English and Italian, batches equal to single calls, and errors that name
//! the fetch command. The model comes from the cache like every model-backed test here
//! (`parla models fetch use-multilingual`, which `scripts/prepare.sh` runs).

use std::path::PathBuf;
use std::sync::OnceLock;

use parla_dialogue::encoder::{cosine, Encoder, EncoderError, DIMENSIONS};
use serde::Deserialize;

fn encoder() -> &'static Encoder {
    static ENCODER: OnceLock<Encoder> = OnceLock::new();
    ENCODER.get_or_init(|| {
        let cache = parla_models::ModelCache::from_env().expect("model cache");
        Encoder::load(&cache).unwrap_or_else(|e| panic!("{e}"))
    })
}

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<Sentence>,
    tokens: Vec<Tokens>,
}

#[derive(Deserialize)]
struct Sentence {
    text: String,
    ids: Vec<u32>,
    head: Vec<f32>,
    embedding: Option<Vec<f32>>,
}

#[derive(Deserialize)]
struct Tokens {
    text: String,
    ids: Vec<u32>,
}

fn reference() -> Reference {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/use-reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference file"))
        .expect("reference JSON")
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

#[test]
fn vectors_match_the_numpy_reference() {
    let encoder = encoder();
    for s in reference().sentences {
        assert_eq!(encoder.token_ids(&s.text), s.ids, "{}", s.text);
        let v = encoder.embed(&s.text).unwrap();
        assert_eq!(v.len(), DIMENSIONS);
        assert!(
            (norm(&v) - 1.0).abs() < 1e-4,
            "{}: norm {}",
            s.text,
            norm(&v)
        );
        for (i, (got, want)) in v.iter().zip(&s.head).enumerate() {
            assert!(
                (got - want).abs() < 2e-5,
                "{}: value {i} is {got}, reference {want}",
                s.text
            );
        }
        if let Some(full) = &s.embedding {
            let c = cosine(&v, full);
            assert!(c > 0.99999, "{}: cosine {c} with the reference", s.text);
        }
    }
}

#[test]
fn token_ids_match_sentencepiece_on_odd_text() {
    // Emoji runs, control symbols typed as text, full-width forms, ligatures, combining accents,
    // odd spaces, empty text.
    let encoder = encoder();
    for t in reference().tokens {
        assert_eq!(encoder.token_ids(&t.text), t.ids, "{:?}", t.text);
    }
}

#[test]
fn paraphrases_are_closer_than_unrelated_turns() {
    let encoder = encoder();
    // (turn, its paraphrase, an unrelated turn in the paraphrase's language)
    let cases = [
        (
            "Where is my order?",
            "Dov'è il mio ordine?",
            "Vorrei cambiare la password del mio account.",
        ),
        (
            "I want to return these shoes.",
            "Voglio restituire queste scarpe.",
            "Che tempo farà domani a Milano?",
        ),
        (
            "I want to return these shoes.",
            "How do I send these shoes back?",
            "What time do you open tomorrow?",
        ),
        (
            "My package never arrived.",
            "The parcel still hasn't been delivered.",
            "Thanks, you've been very helpful.",
        ),
        (
            "Il mio pacco non è mai arrivato.",
            "La spedizione non è ancora stata consegnata.",
            "Grazie, siete stati gentilissimi.",
        ),
    ];
    for (turn, paraphrase, unrelated) in cases {
        let v = encoder.embed_batch(&[turn, paraphrase, unrelated]).unwrap();
        let (close, far) = (cosine(&v[0], &v[1]), cosine(&v[0], &v[2]));
        // Reference values: 0.51–0.88 against -0.01–0.09.
        assert!(
            close > 0.45 && far < 0.25 && close > far + 0.3,
            "{turn:?}: {close:.3} with {paraphrase:?}, {far:.3} with {unrelated:?}"
        );
    }
}

#[test]
fn a_batch_equals_one_call_per_text() {
    let encoder = encoder();
    let long = "I ordered a coffee machine three weeks ago, paid for express delivery, and \
                nothing has arrived yet; the tracking page has said 'in transit' since Monday \
                and nobody answers the phone, so I would like my money back please.";
    let reference = reference();
    let mut texts: Vec<&str> = reference
        .sentences
        .iter()
        .map(|s| s.text.as_str())
        .collect();
    texts.insert(3, long);
    texts.push("");
    let batch = encoder.embed_batch(&texts).unwrap();
    assert_eq!(batch.len(), texts.len());
    for (text, v) in texts.iter().zip(&batch) {
        let one = encoder.embed(text).unwrap();
        let c = cosine(&one, v);
        assert!(c > 0.99999, "{text:?}: cosine {c} between batch and single");
    }
    assert!(encoder.embed_batch(&[]).unwrap().is_empty());
}

#[test]
fn odd_and_long_text_gives_unit_vectors() {
    let encoder = encoder();
    let long = "dov'è il mio ordine? ".repeat(400);
    for text in ["", "   ", "😀😀😀", "<s></s>", "\u{0}", long.as_str()] {
        let v = encoder.embed(text).unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{text:?}");
        assert!((norm(&v) - 1.0).abs() < 1e-3, "{text:?}: norm {}", norm(&v));
    }
}

#[test]
fn missing_or_damaged_files_name_the_fetch_command() {
    let empty = parla_models::ModelCache::new("/nonexistent/parla-cache");
    let err = Encoder::load(&empty).unwrap_err().to_string();
    assert!(err.contains("parla models fetch use-multilingual"), "{err}");

    let err = Encoder::from_dir(&PathBuf::from("/nonexistent/use")).unwrap_err();
    assert!(matches!(err, EncoderError::Missing { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("parla models fetch use-multilingual"));

    let dir = std::env::temp_dir().join(format!("parla-encoder-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("sp.model"), b"not a sentencepiece model").unwrap();
    std::fs::write(dir.join("weights.npz"), b"not a zip").unwrap();
    let bad_tokenizer = Encoder::from_dir(&dir).unwrap_err();
    let cache = parla_models::ModelCache::from_env().unwrap();
    let real = cache.require("use-multilingual").unwrap();
    std::fs::copy(real.with_file_name("sp.model"), dir.join("sp.model")).unwrap();
    let bad_weights = Encoder::from_dir(&dir).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        matches!(bad_tokenizer, EncoderError::Tokenizer { .. }),
        "{bad_tokenizer}"
    );
    assert!(
        matches!(bad_weights, EncoderError::Weights { .. }),
        "{bad_weights}"
    );
    for err in [bad_tokenizer, bad_weights] {
        assert!(err.to_string().contains("to fetch it again"), "{err}");
    }
}
