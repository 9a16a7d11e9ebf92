//! The gRPC service on 127.0.0.1:0 with the real voices, called as a client
//! would: voices, unary and streamed synthesis, and bad input statuses.

mod common;

use parla_proto::v1 as pb;
use parla_proto::v1::synthesize_stream_request::Request as Req;
use parla_proto::v1::synthesize_stream_response::Event;

fn config(
    language: &str,
    voice: &str,
    encoding: pb::AudioEncoding,
    rate: u32,
) -> pb::SynthesisConfig {
    pb::SynthesisConfig {
        language: language.into(),
        voice: voice.into(),
        tone: pb::Tone::Neutral as i32,
        output_format: Some(pb::AudioFormat {
            encoding: encoding as i32,
            sample_rate_hz: rate,
        }),
        ssml: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voices_and_unary_synthesis() {
    let mut c = common::client().await;
    let voices = c
        .list_voices(pb::ListVoicesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .voices;
    let names: Vec<&str> = voices.iter().map(|v| v.name.as_str()).collect();
    assert!(
        names.contains(&"joe") && names.contains(&"espeak-it"),
        "{names:?}"
    );
    let en_default = voices
        .iter()
        .find(|v| v.is_default && v.language == "en")
        .unwrap();
    assert_eq!(
        (en_default.name.as_str(), en_default.engine.as_str()),
        ("joe", "piper")
    );
    let it = c
        .list_voices(pb::ListVoicesRequest {
            language: "it-IT".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .voices;
    assert!(it.iter().all(|v| v.language == "it") && !it.is_empty());

    let r = c
        .synthesize(pb::SynthesizeRequest {
            text: "Hello, how can I help?".into(),
            config: Some(config("en", "", pb::AudioEncoding::Pcm16le, 16000)),
        })
        .await
        .unwrap()
        .into_inner();
    let audio = r.audio.unwrap();
    assert_eq!(r.voice, "joe");
    assert_eq!(audio.format.unwrap().sample_rate_hz, 16000);
    assert_eq!(
        audio.data.len() as u64 / 32,
        u64::from(r.audio_ms),
        "16 kHz PCM16: 32 bytes per ms"
    );
    assert!(r.audio_ms > 800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_speaks_each_sentence_as_it_completes() {
    let mut c = common::client().await;
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let msg = |r| pb::SynthesizeStreamRequest { request: Some(r) };
    tx.send(msg(Req::Config(config(
        "en",
        "espeak-en",
        pb::AudioEncoding::Mulaw,
        8000,
    ))))
    .await
    .unwrap();
    tx.send(msg(Req::TextDelta("Your order shipped".into())))
        .await
        .unwrap();
    tx.send(msg(Req::TextDelta(" today. It will ".into())))
        .await
        .unwrap();
    let mut events = c
        .synthesize_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    // The first sentence is spoken before the second is complete.
    let mut chunks = 0;
    let first_sentence = loop {
        match events.message().await.unwrap().unwrap().event.unwrap() {
            Event::Audio(a) => {
                assert_eq!(a.sequence, chunks);
                assert_eq!(a.data.len(), 160, "20 ms of 8 kHz mu-law");
                chunks += 1;
            }
            Event::Sentence(s) => break s,
        }
    };
    assert_eq!(first_sentence.text, "Your order shipped today.");
    assert!(chunks > 20);
    tx.send(msg(Req::TextDelta("arrive tomorrow.".into())))
        .await
        .unwrap();
    tx.send(msg(Req::Flush(true))).await.unwrap();
    let mut sentences = vec![first_sentence.text];
    while let Some(ev) = events.message().await.unwrap() {
        match ev.event.unwrap() {
            Event::Audio(a) => {
                assert_eq!(a.sequence, chunks);
                chunks += 1;
            }
            Event::Sentence(s) => sentences.push(s.text),
        }
    }
    assert_eq!(
        sentences,
        ["Your order shipped today.", "It will arrive tomorrow."]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clear_statuses() {
    let mut c = common::client().await;
    let req = |text: &str, cfg: pb::SynthesisConfig| pb::SynthesizeRequest {
        text: text.into(),
        config: Some(cfg),
    };
    let cases = [
        (
            req("   ", config("en", "", pb::AudioEncoding::Pcm16le, 0)),
            tonic::Code::InvalidArgument,
            "empty",
        ),
        (
            req(
                &"a".repeat(6000),
                config("en", "", pb::AudioEncoding::Pcm16le, 0),
            ),
            tonic::Code::InvalidArgument,
            "limit",
        ),
        (
            req("Hi", config("en", "nobody", pb::AudioEncoding::Pcm16le, 0)),
            tonic::Code::NotFound,
            "espeak-it",
        ),
        (
            req("Hi", config("fr", "", pb::AudioEncoding::Pcm16le, 0)),
            tonic::Code::NotFound,
            "fr",
        ),
        (
            req("Hi", config("en", "", pb::AudioEncoding::Mulaw, 16000)),
            tonic::Code::InvalidArgument,
            "8000",
        ),
        (
            req("Hi", config("en", "", pb::AudioEncoding::Pcm16le, 44100)),
            tonic::Code::InvalidArgument,
            "allowed",
        ),
        (
            req(
                "<speak>Hi <prosody rate=\"fast\">there</speak>",
                pb::SynthesisConfig {
                    ssml: true,
                    ..config("en", "", pb::AudioEncoding::Pcm16le, 0)
                },
            ),
            tonic::Code::InvalidArgument,
            "line 1, column 37",
        ),
    ];
    for (r, code, needle) in cases {
        let status = c.synthesize(r).await.unwrap_err();
        assert_eq!(status.code(), code, "{}", status.message());
        assert!(
            status.message().contains(needle),
            "{:?} lacks {needle:?}",
            status.message()
        );
    }
    // The engine thread survived all of that.
    let ok = c
        .synthesize(req(
            "Still here.",
            config("it", "", pb::AudioEncoding::Alaw, 8000),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.voice, "espeak-it");
    // A stream must start with its config.
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tx.send(pb::SynthesizeStreamRequest {
        request: Some(Req::TextDelta("hi".into())),
    })
    .await
    .unwrap();
    drop(tx);
    let status = c
        .synthesize_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}
