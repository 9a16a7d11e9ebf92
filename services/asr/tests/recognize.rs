//! `Asr.Recognize` against the real models: word error rate on English
//! support phrases spoken by eSpeak NG, on Italian ones spoken by
//! Festival's two Italian voices through a telephone line, and on real
//! human speech (`jfk.wav`), language detection, word timestamps, and no
//! invented text on silence or noise.

mod common;
use common::phrases;

use common::natural::{festival, telephone};
use common::speech::{espeak, jfk, silence, trim, wav_bytes, white_noise, JFK_TEXT};
use common::wer::{wer, wer_in};
use parla_proto::v1::recognize_request::Audio;
use parla_proto::v1::{RecognizeRequest, RecognizeResponse};

async fn recognize(samples: &[f32], language: &str) -> RecognizeResponse {
    let mut client = common::client(common::default_server()).await;
    client
        .recognize(RecognizeRequest {
            audio: Some(Audio::Wav(wav_bytes(samples))),
            language: language.into(),
        })
        .await
        .expect("recognize")
        .into_inner()
}

/// Recognizes each (phrase, speech) in `language` with 300 ms of silence
/// on either side, printing each phrase's WER; returns the transcripts.
async fn transcripts(spoken: &[(&str, Vec<f32>)], language: &str) -> Vec<String> {
    let lang = parla_text::Lang::from_tag(language);
    let mut texts = Vec::new();
    for (phrase, speech) in spoken {
        let audio = [silence(300), speech.clone(), silence(300)].concat();
        let r = recognize(&audio, language).await;
        println!(
            "wer {:.2}  conf {:.2}  lang {}  {:?} -> {:?}",
            wer_in(phrase, &r.text, lang),
            r.confidence,
            r.language,
            phrase,
            r.text
        );
        texts.push(r.text);
    }
    texts
}

/// Corpus WER (all errors over all words) of phrases and their transcripts.
fn corpus_wer<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, language: &str) -> f64 {
    common::wer::corpus_wer(pairs, parla_text::Lang::from_tag(language))
}

#[tokio::test]
async fn english_phrases_within_10_percent_wer() {
    let spoken: Vec<_> = phrases::ENGLISH
        .iter()
        .map(|p| (*p, espeak(p, "en-us")))
        .collect();
    let texts = transcripts(&spoken, "en").await;
    let wer = corpus_wer(
        spoken
            .iter()
            .zip(&texts)
            .map(|((p, _), t)| (*p, t.as_str())),
        "en",
    );
    println!("english wer (tiny.en, espeak en-us): {:.1}%", wer * 100.0);
    assert!(wer <= 0.10, "english WER {:.1}% > 10%", wer * 100.0);
}

/// Each Italian phrase spoken by both Festival diphone voices (`pc`,
/// male, then `lp`, female) and heard through an 8 kHz mu-law line, as
/// the natural-speech tests hear Italian callers.
#[tokio::test]
async fn italian_phrases_within_25_percent_wer() {
    let spoken: Vec<_> = phrases::ITALIAN
        .iter()
        .flat_map(|p| [false, true].map(|female| (*p, telephone(&trim(&festival(p, female))))))
        .collect();
    let texts = transcripts(&spoken, "it").await;
    let pairs: Vec<(&str, &str)> = spoken
        .iter()
        .zip(&texts)
        .map(|((p, _), t)| (*p, t.as_str()))
        .collect();
    let male = corpus_wer(pairs.iter().step_by(2).copied(), "it");
    let female = corpus_wer(pairs.iter().skip(1).step_by(2).copied(), "it");
    let wer = corpus_wer(pairs.iter().copied(), "it");
    println!(
        "italian wer (base, festival pc / lp / both, 8 kHz mu-law): {:.1}% / {:.1}% / {:.1}%",
        male * 100.0,
        female * 100.0,
        wer * 100.0
    );
    assert!(wer <= 0.25, "italian WER {:.1}% > 25%", wer * 100.0);
}

#[tokio::test]
async fn auto_detects_english_and_italian() {
    let en = recognize(&espeak(phrases::ENGLISH[1], "en-us"), "auto").await;
    assert_eq!(en.language, "en", "{en:?}");
    let it = recognize(&espeak(phrases::ITALIAN[0], "it"), "auto").await;
    assert_eq!(it.language, "it", "{it:?}");
}

#[tokio::test]
async fn human_speech_jfk() {
    let audio = jfk();
    let r = recognize(&audio, "en").await;
    let e = wer(JFK_TEXT, &r.text);
    println!(
        "jfk wer {:.1}%  conf {:.2}: {:?}",
        e * 100.0,
        r.confidence,
        r.text
    );
    assert!(e <= 0.10, "jfk WER {:.1}%: {:?}", e * 100.0, r.text);
    assert!(r.confidence > 0.5, "confidence {}", r.confidence);
    assert_eq!(r.audio_ms, 11_000);
    // Word timestamps: in order, inside the audio, "country" near the end.
    assert!(r.words.len() >= 20, "{:?}", r.words);
    for pair in r.words.windows(2) {
        assert!(pair[0].start_ms <= pair[1].start_ms, "{pair:?}");
    }
    let last = r.words.last().expect("words");
    assert!(last.end_ms <= 11_000 && last.end_ms > 8_000, "{last:?}");
    assert!(r.words.iter().all(|w| (0.0..=1.0).contains(&w.confidence)));
}

#[tokio::test]
async fn silence_and_noise_give_no_text() {
    let quiet = recognize(&silence(3000), "en").await;
    assert_eq!(quiet.text, "", "{quiet:?}");
    assert!(quiet.confidence < 0.2, "{quiet:?}");
    let noise = recognize(&white_noise(3000, 0.3), "en").await;
    assert_eq!(noise.text, "", "{noise:?}");
    assert!(noise.confidence < 0.2, "{noise:?}");
    let noise_auto = recognize(&white_noise(2000, 0.1), "auto").await;
    assert_eq!(noise_auto.text, "", "{noise_auto:?}");
}
