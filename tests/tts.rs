//! Speech synthesis through the real `parla serve --only tts`: the voices
//! load (eSpeak NG and the Piper voice from the model cache), and a client
//! gets telephone audio and clear errors.

mod common;

use std::time::Duration;

use common::ParlaServer;
use parla_proto::v1 as pb;
use parla_proto::v1::tts_client::TtsClient;

#[tokio::test]
async fn serves_voices_and_telephone_audio() -> anyhow::Result<()> {
    let server = ParlaServer::start(&["--only", "tts"], &[])?;
    server.wait_ready(Duration::from_secs(120)).await?;
    let mut tts = TtsClient::new(server.channel().await?);

    let voices = tts
        .list_voices(pb::ListVoicesRequest::default())
        .await?
        .into_inner()
        .voices;
    let defaults: Vec<(&str, &str)> = voices
        .iter()
        .filter(|v| v.is_default)
        .map(|v| (v.language.as_str(), v.name.as_str()))
        .collect();
    assert!(
        defaults.contains(&("en", "joe")) && defaults.contains(&("it", "espeak-it")),
        "{defaults:?}"
    );

    let reply = tts
        .synthesize(pb::SynthesizeRequest {
            text: "Il suo rimborso di €49.90 è stato approvato.".into(),
            config: Some(pb::SynthesisConfig {
                language: "it".into(),
                tone: pb::Tone::Empathetic as i32,
                output_format: Some(pb::AudioFormat {
                    encoding: pb::AudioEncoding::Mulaw as i32,
                    sample_rate_hz: 8000,
                }),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let audio = reply.audio.expect("audio");
    assert_eq!(reply.voice, "espeak-it");
    assert_eq!(audio.format.map(|f| f.sample_rate_hz), Some(8000));
    // One byte per 8 kHz sample: 8 bytes per millisecond.
    assert!(reply.audio_ms > 1500 && audio.data.len() as u32 / 8 >= reply.audio_ms);

    let unknown = tts
        .synthesize(pb::SynthesizeRequest {
            text: "Hello".into(),
            config: Some(pb::SynthesisConfig {
                voice: "nobody".into(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("unknown voice");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    assert!(unknown.message().contains("joe"), "{}", unknown.message());
    Ok(())
}
