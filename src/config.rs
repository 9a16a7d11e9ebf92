//! Parla's configuration: one typed [`Config`] filled, in order, from
//! built-in defaults, `parla.toml`, `PARLA_*` environment variables and
//! command-line flags. A bad value stops the start with a message that names
//! its key and what is allowed.
//!
//! Environment variables map to keys by lowercasing and splitting sections
//! on a double underscore: `PARLA_LISTEN` is `listen`, `PARLA_ASR__THREADS`
//! is `asr.threads`. `PARLA_CACHE`, `PARLA_PIP` and `PARLA_CONFIG` are read
//! by model provisioning and the command line, not by this table.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Deserializer, Serialize};

use parla_asr::AsrConfig;
use parla_crm::CrmConfig;
use parla_dialogue::DialogueConfig;
use parla_flows::FlowsConfig;
use parla_gateway::GatewayConfig;
use parla_handoff::HandoffConfig;
use parla_proto::service_token::TokenSource;
use parla_proto::ServiceToken;
use parla_tts::TtsConfig;

use crate::services::ServiceKind;

/// Environment variables with the `PARLA_` prefix that are not table keys.
const NON_TABLE_ENV: [&str; 4] = ["cache", "pip", "config", "max_kernels"];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// URLs of services that run in another process, used when this process
/// does not run them itself (`parla serve --only ...`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RemoteConfig {
    /// URL of the speech recognition service.
    pub asr: Option<String>,
    /// URL of the speech synthesis service.
    pub tts: Option<String>,
    /// URL of the dialogue manager.
    pub dialogue: Option<String>,
    /// URL of the customer record service.
    pub crm: Option<String>,
    /// URL of the hand-off queue.
    pub handoff: Option<String>,
    /// URL of the gateway.
    pub gateway: Option<String>,
}

impl RemoteConfig {
    /// The configured URL of `service`, if any.
    pub fn url(&self, service: ServiceKind) -> Option<&str> {
        match service {
            ServiceKind::Asr => self.asr.as_deref(),
            ServiceKind::Tts => self.tts.as_deref(),
            ServiceKind::Dialogue => self.dialogue.as_deref(),
            ServiceKind::Crm => self.crm.as_deref(),
            ServiceKind::Handoff => self.handoff.as_deref(),
            ServiceKind::Gateway => self.gateway.as_deref(),
        }
    }
}

/// Who may call the internal RPCs (`[security]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Shared secret Parla's services present to each other in the
    /// `x-parla-service-token` header; when set, internal RPCs without it
    /// are refused. Empty: no check. Prefer `service_token_file`.
    #[serde(
        serialize_with = "parla_seal::redacted",
        deserialize_with = "token_text"
    )]
    pub service_token: String,
    /// A file holding the service token (surrounding whitespace ignored).
    pub service_token_file: Option<PathBuf>,
}

impl SecurityConfig {
    /// The configured service token, read from the file when one is named;
    /// `None` when there is none. The error is `(key, problem)`.
    pub fn service_token(&self) -> Result<Option<ServiceToken>, (String, String)> {
        ServiceToken::from_setting(&self.service_token, self.service_token_file.as_deref()).map_err(
            |(source, problem)| {
                let key = match source {
                    TokenSource::Inline => "security.service_token",
                    TokenSource::File => "security.service_token_file",
                };
                (key.to_owned(), problem)
            },
        )
    }
}

/// A token that the environment layer read as a number is refused without
/// repeating it (the default message would print the secret).
fn token_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    struct Text;
    impl serde::de::Visitor<'_> for Text {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<String, E> {
            Err(E::custom(NUMERIC_TOKEN))
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<String, E> {
            Err(E::custom(NUMERIC_TOKEN))
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<String, E> {
            Err(E::custom(NUMERIC_TOKEN))
        }
    }
    deserializer.deserialize_any(Text)
}

const NUMERIC_TOKEN: &str =
    "reads as a number; put the token in quotes (\"...\"), or use letters and digits";

/// Where models are kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Model cache directory (`PARLA_CACHE`, else `~/.cache/parla`).
    pub cache_dir: PathBuf,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            cache_dir: parla_models::ModelCache::default_root()
                .unwrap_or_else(|_| PathBuf::from(".parla-cache")),
        }
    }
}

/// The whole configuration of a Parla process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the gRPC server listens on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Log format: "text" or "json".
    pub log_format: LogFormat,
    /// Services this process runs; the others are reached at `remote.*`.
    #[serde(deserialize_with = "services_list")]
    pub services: Vec<ServiceKind>,
    /// Seconds open streams get to finish after SIGINT/SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Browser origins allowed to call the gRPC-web API (CORS); empty
    /// allows none, "*" allows any.
    pub cors_allowed_origins: Vec<String>,
    /// URLs of services run elsewhere.
    pub remote: RemoteConfig,
    /// Model cache.
    pub models: ModelsConfig,
    /// Speech recognition.
    pub asr: AsrConfig,
    /// Speech synthesis.
    pub tts: TtsConfig,
    /// Dialogue manager.
    pub dialogue: DialogueConfig,
    /// Flows (returns, recommendations, order status, developers' own) and weather.
    pub flows: FlowsConfig,
    /// Customer record.
    pub crm: CrmConfig,
    /// Hand-off queue.
    pub handoff: HandoffConfig,
    /// Gateway.
    pub gateway: GatewayConfig,
    /// Who may call the internal RPCs.
    pub security: SecurityConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            log_format: LogFormat::Text,
            services: ServiceKind::ALL.to_vec(),
            shutdown_grace_secs: 10,
            cors_allowed_origins: Vec::new(),
            remote: RemoteConfig::default(),
            models: ModelsConfig::default(),
            asr: AsrConfig::default(),
            tts: TtsConfig::default(),
            dialogue: DialogueConfig::default(),
            flows: FlowsConfig::default(),
            crm: CrmConfig::default(),
            handoff: HandoffConfig::default(),
            gateway: GatewayConfig::default(),
            security: SecurityConfig::default(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--log-format`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceKind>>,
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value could not be read or has the wrong type.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// A value is readable but not allowed.
    #[error("invalid configuration: `{key}` {problem}")]
    Invalid {
        /// Dotted key, e.g. `asr.threads`.
        key: String,
        /// What is wrong and what is allowed.
        problem: String,
    },
    /// `--config` or `PARLA_CONFIG` names a file that does not exist.
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
}

impl Config {
    /// Loads the configuration: defaults, then the file (the explicit
    /// `path`, else `parla.toml` in the working directory if present), then
    /// `PARLA_*` variables, then `flags`; and validates it.
    pub fn load(path: Option<&Path>, flags: &FlagOverrides) -> Result<Self, ConfigError> {
        let file = match path {
            Some(p) if !p.exists() => return Err(ConfigError::MissingFile(p.to_owned())),
            Some(p) => Some(p.to_owned()),
            None => Some(PathBuf::from("parla.toml")).filter(|p| p.exists()),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let env = Env::prefixed("PARLA_").split("__").filter(|key| {
            !NON_TABLE_ENV
                .iter()
                .any(|k| key.as_str().eq_ignore_ascii_case(k))
        });
        let config: Config = figment
            .merge(env)
            .merge(Serialized::defaults(flags))
            .extract()
            .map_err(|e| ConfigError::Parse(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, problem: String| ConfigError::Invalid {
            key: key.to_owned(),
            problem,
        };
        if self.services.is_empty() {
            return Err(invalid(
                "services",
                format!("is empty; allowed: one or more of {}", ServiceKind::names()),
            ));
        }
        if self.asr.threads == 0 || self.asr.threads > 64 {
            return Err(invalid(
                "asr.threads",
                format!("is {}; allowed: 1 to 64", self.asr.threads),
            ));
        }
        self.asr
            .validate()
            .map_err(|p| invalid(&p.key, p.problem))?;
        self.tts
            .validate()
            .map_err(|p| invalid(&p.key, p.problem))?;
        self.dialogue
            .validate()
            .map_err(|p| invalid(&p.key, p.problem))?;
        if let Err(parla_flows::FlowError::Setting { key, problem }) = self.flows.validate() {
            return Err(invalid(&key, problem));
        }
        if let Err(parla_crm::CrmError::Config { key, problem }) = self.crm.validate() {
            return Err(invalid(key, problem));
        }
        if let Err((key, problem)) = self.gateway.call.validate() {
            return Err(invalid(&key, problem));
        }
        if self.gateway.max_message_bytes == 0 {
            return Err(invalid(
                "gateway.max_message_bytes",
                "is 0; allowed: a positive number of bytes".to_owned(),
            ));
        }
        if let Err((key, problem)) = self.security.service_token() {
            return Err(invalid(&key, problem));
        }
        for kind in ServiceKind::ALL {
            if let Some(url) = self.remote.url(kind) {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(
                        &format!("remote.{}", kind.name()),
                        format!("is {url:?}; allowed: an http:// or https:// URL"),
                    ));
                }
            }
        }
        for &kind in &self.services {
            for &needed in kind.depends_on() {
                if !self.services.contains(&needed) && self.remote.url(needed).is_none() {
                    return Err(invalid(
                        &format!("remote.{}", needed.name()),
                        format!(
                            "is not set, but `{}` needs the `{}` service and this process does \
                             not run it; set it to that service's URL or add `{}` to `services`",
                            kind.name(),
                            needed.name(),
                            needed.name()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The configuration as TOML, as `parla config` prints it.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

/// Turns figment's error (which names the key and where the value came
/// from) into one line per problem.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = if e.path.is_empty() {
                String::new()
            } else {
                format!("`{}`: ", e.path.join("."))
            };
            let source = e
                .metadata
                .as_ref()
                .map(|m| format!(" (from {})", m.name))
                .unwrap_or_default();
            format!("{key}{}{source}", e.kind)
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Accepts `services` as a list or as one comma-separated string (the form
/// an environment variable or `--only` gives).
fn services_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<ServiceKind>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Joined(String),
    }
    let names: Vec<String> = match Form::deserialize(deserializer)? {
        Form::List(list) => list,
        Form::Joined(joined) => joined.split(',').map(str::to_owned).collect(),
    };
    names
        .iter()
        .map(|n| n.trim())
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse::<ServiceKind>()
                .map_err(|e| serde::de::Error::custom(e.to_string()))
        })
        .collect()
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}
