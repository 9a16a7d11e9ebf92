//! Provisioning against throwaway caches: the small silero-vad model is fetched for real with pip,
//! then damaged in the ways a user's disk can be, and the cache must notice and repair.

use std::fs;
use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use parla_models::{
    fetch_manifests, manifest, manifests, FetchOptions, ModelCache, ModelError, ModelManifest,
    ModelStatus, PipCommand, Progress,
};

fn silero() -> &'static ModelManifest {
    manifest("silero-vad").expect("silero-vad manifest")
}

fn run_fetch(
    cache: &ModelCache,
    m: &ModelManifest,
    events: &mut Vec<Progress>,
) -> Result<(), ModelError> {
    fetch_manifests(cache, &[m], &FetchOptions::default(), &mut |p| {
        events.push(p)
    })
    .map(|_| ())
}

fn downloads(events: &[Progress]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, Progress::Downloading { .. }))
        .count()
}

/// Names of regular files under `dir`, recursively, relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn embedded_manifests_parse_and_are_unique() {
    let names: Vec<&str> = manifests().iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "smollm2-135m",
            "whisper-tiny-en",
            "whisper-base",
            "silero-vad",
            "smart-turn-v3.2",
            "piper-joe",
            "onnxruntime",
            "vader-lexicon",
            "pattern-it-sentiment",
            "use-multilingual",
            "qwen2.5-coder-1.5b"
        ]
    );
    let quality = manifest("quality").unwrap();
    assert_eq!(quality.name, "qwen2.5-coder-1.5b");
    assert!(quality.optional);
    assert_eq!(quality.files[0].parts.len(), 22);
    assert_eq!(
        manifest("whisper-tiny-en").unwrap().ready_file(),
        "ggml-tiny.en.bin"
    );
    assert_eq!(manifest("whisper-base").unwrap().files[0].parts.len(), 2);
}

#[test]
fn unknown_model_lists_the_known_ones() {
    let err = manifest("whisper-huge").unwrap_err().to_string();
    assert!(err.contains("unknown model `whisper-huge`"), "{err}");
    assert!(
        err.contains("whisper-tiny-en") && err.contains("silero-vad"),
        "{err}"
    );
}

#[test]
fn require_on_an_empty_cache_names_the_fetch_command() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    assert_eq!(
        cache.status(manifest("whisper-tiny-en").unwrap()),
        ModelStatus::Missing
    );
    let err = cache.require("whisper-tiny-en").unwrap_err().to_string();
    assert!(err.contains("parla models fetch whisper-tiny-en"), "{err}");
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
}

#[test]
fn missing_pip_is_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    for line in ["/nonexistent/pip", "python3 -m parla_no_such_pip_module"] {
        let options = FetchOptions {
            pip: PipCommand::parse(line).unwrap(),
        };
        let err = fetch_manifests(&cache, &[silero()], &options, &mut |_| {}).unwrap_err();
        assert!(matches!(err, ModelError::PipUnavailable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("pip is not available") && text.contains(line),
            "{text}"
        );
        assert!(text.contains("PARLA_PIP"), "{text}");
    }
    assert_eq!(cache.status(silero()), ModelStatus::Missing);
}

#[test]
fn a_wrong_checksum_is_refused_and_leaves_nothing_complete() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    let mut bad = silero().clone();
    bad.name = "silero-vad-tampered".into();
    let wrong = "0".repeat(64);
    bad.files[0].sha256 = wrong.clone();

    let err = run_fetch(&cache, &bad, &mut Vec::new()).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, ModelError::ChecksumMismatch { .. }),
        "{err:?}"
    );
    assert!(text.contains(&wrong), "names the expected digest: {text}");
    assert!(
        text.contains(&silero().files[0].sha256),
        "names the actual digest: {text}"
    );

    let model_dir = cache.model_dir(&bad);
    assert_eq!(files_under(&model_dir), Vec::<String>::new());
    assert_eq!(
        files_under(&dir.path().join(".tmp")),
        Vec::<String>::new(),
        "wheels removed"
    );
    assert_eq!(cache.status(&bad), ModelStatus::Missing);
    // A retry downloads again (and is refused again) rather than trusting anything left behind.
    let mut events = Vec::new();
    assert!(run_fetch(&cache, &bad, &mut events).is_err());
    assert_eq!(downloads(&events), 1);
}

#[test]
fn fetch_is_idempotent_and_repairs_damage() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    let m = silero();

    let mut events = Vec::new();
    run_fetch(&cache, m, &mut events).unwrap();
    assert_eq!(downloads(&events), 1);
    assert!(
        matches!(
            events.last(),
            Some(Progress::Done {
                size: 2_327_524,
                ..
            })
        ),
        "{events:?}"
    );
    let path = cache
        .require_manifest(m)
        .unwrap_or_else(|e| panic!("not ready after fetch: {e}"));
    assert_eq!(fs::metadata(&path).unwrap().len(), 2_327_524);
    assert_eq!(
        files_under(cache.root()),
        [
            ".locks/silero-vad.lock",
            "silero-vad/silero_vad.onnx",
            "silero-vad/silero_vad.onnx.verified"
        ],
        "only the model, its marker and the (empty) fetch lock stay"
    );

    // Second fetch: nothing but a report.
    let mut events = Vec::new();
    run_fetch(&cache, m, &mut events).unwrap();
    assert!(
        matches!(events.as_slice(), [Progress::AlreadyReady { .. }]),
        "{events:?}"
    );

    // Same size, different bytes: the cheap status notices, verify refuses, fetch replaces.
    sleep(Duration::from_millis(50));
    let mut bytes = fs::read(&path).unwrap();
    bytes[1000] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    assert!(
        matches!(cache.status(m), ModelStatus::Corrupt { .. }),
        "{:?}",
        cache.status(m)
    );
    let err = cache.require_manifest(m).unwrap_err().to_string();
    assert!(
        err.contains("corrupt") && err.contains("parla models fetch silero-vad"),
        "{err}"
    );
    match cache.verify(m).unwrap() {
        ModelStatus::Corrupt { reason } => assert!(reason.contains(&m.files[0].sha256), "{reason}"),
        other => panic!("verify accepted a damaged file: {other:?}"),
    }
    let mut events = Vec::new();
    run_fetch(&cache, m, &mut events).unwrap();
    assert_eq!(downloads(&events), 1);
    assert!(matches!(
        cache.verify(m).unwrap(),
        ModelStatus::Ready { .. }
    ));

    // A lost marker: the file is re-hashed, found good, and kept without downloading.
    fs::remove_file(dir.path().join("silero-vad/silero_vad.onnx.verified")).unwrap();
    assert!(matches!(cache.status(m), ModelStatus::Corrupt { .. }));
    let mut events = Vec::new();
    run_fetch(&cache, m, &mut events).unwrap();
    assert_eq!(downloads(&events), 0, "{events:?}");
    assert!(events
        .iter()
        .any(|e| matches!(e, Progress::Verifying { .. })));
    assert!(matches!(cache.status(m), ModelStatus::Ready { .. }));

    // A garbage marker counts as no marker.
    fs::write(dir.path().join("silero-vad/silero_vad.onnx.verified"), "{").unwrap();
    assert!(matches!(cache.status(m), ModelStatus::Corrupt { .. }));
}

#[test]
fn concurrent_fetches_of_one_model_download_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    let results: Vec<(Result<(), ModelError>, Vec<Progress>)> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let mut events = Vec::new();
                    (run_fetch(&cache, silero(), &mut events), events)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (result, events) in &results {
        assert!(result.is_ok(), "{result:?} {events:?}");
    }
    let total: usize = results.iter().map(|(_, e)| downloads(e)).sum();
    assert_eq!(
        total, 1,
        "one download, the others waited and found it ready"
    );
    assert!(matches!(
        cache.verify(silero()).unwrap(),
        ModelStatus::Ready { .. }
    ));
}

#[test]
fn leftovers_of_an_interrupted_fetch_never_look_complete() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ModelCache::new(dir.path());
    let m = silero();
    let model_dir = cache.model_dir(m);
    fs::create_dir_all(&model_dir).unwrap();
    fs::create_dir_all(dir.path().join(".tmp/fetch-silero-vad-stale")).unwrap();
    fs::write(model_dir.join("silero_vad.onnx.part"), b"half a model").unwrap();
    assert_eq!(cache.status(m), ModelStatus::Missing);
    // A truncated file under the final name (no marker) is not trusted either.
    fs::write(model_dir.join("silero_vad.onnx"), b"truncated").unwrap();
    assert!(matches!(cache.status(m), ModelStatus::Corrupt { .. }));
    let mut events = Vec::new();
    run_fetch(&cache, m, &mut events).unwrap();
    assert_eq!(downloads(&events), 1);
    assert!(matches!(
        cache.verify(m).unwrap(),
        ModelStatus::Ready { .. }
    ));
}
