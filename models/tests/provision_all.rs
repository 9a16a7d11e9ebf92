//! Every default (not opt-in) manifest provisions into the real cache (`PARLA_CACHE` or `~/.cache/parla`):
//! this is what `parla models fetch` does, and it checks every pinned size and sha256 against the
//! registry. After the first run it costs one cheap status check per model.

use parla_models::{fetch, manifests, ModelCache, ModelStatus, Progress};

#[test]
fn all_default_models_provision_and_verify() -> anyhow::Result<()> {
    let cache = ModelCache::from_env()?;
    // Opt-in models (the 1.1 GB quality language model) are fetched only when named.
    let defaults: Vec<_> = manifests().iter().filter(|m| !m.optional).collect();
    let names: Vec<&str> = defaults.iter().map(|m| m.name.as_str()).collect();
    let mut done = Vec::new();
    let paths = fetch(&cache, &names, &mut |p| {
        eprintln!("{p:?}");
        if let Progress::Done { model, .. } | Progress::AlreadyReady { model, .. } = p {
            done.push(model);
        }
    })?;
    assert_eq!(done, names);
    for (manifest, path) in defaults.iter().zip(&paths) {
        match cache.status(manifest) {
            ModelStatus::Ready { path: ready, size } => {
                assert_eq!(&ready, path);
                assert!(size > 0);
                assert_eq!(cache.require(&manifest.name)?, ready);
            }
            other => panic!("{} is {other:?} after fetch", manifest.name),
        }
    }
    Ok(())
}
