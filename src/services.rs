//! The services a Parla process can run, what each needs from the others,
//! and how each becomes ready: a service reports SERVING on the health
//! service only once its models have loaded.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use parla_models::ModelCache;
use parla_proto::service_names;
use parla_proto::{PeerChannel, ServiceToken};
use serde::{Deserialize, Serialize};

use crate::config::Config;

/// One of Parla's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceKind {
    /// Speech recognition.
    Asr,
    /// Speech synthesis.
    Tts,
    /// Dialogue manager.
    Dialogue,
    /// Customer record.
    Crm,
    /// Hand-off queue.
    Handoff,
    /// Voice calls and chats.
    Gateway,
}

impl ServiceKind {
    /// Every service, in start order.
    pub const ALL: [ServiceKind; 6] = [
        ServiceKind::Crm,
        ServiceKind::Handoff,
        ServiceKind::Asr,
        ServiceKind::Tts,
        ServiceKind::Dialogue,
        ServiceKind::Gateway,
    ];

    /// The name used in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Asr => "asr",
            ServiceKind::Tts => "tts",
            ServiceKind::Dialogue => "dialogue",
            ServiceKind::Crm => "crm",
            ServiceKind::Handoff => "handoff",
            ServiceKind::Gateway => "gateway",
        }
    }

    /// All names, for messages.
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }

    /// Fully qualified gRPC services this service serves; their health is
    /// reported under these names.
    pub fn grpc_services(self) -> &'static [&'static str] {
        match self {
            ServiceKind::Asr => &[service_names::ASR],
            ServiceKind::Tts => &[service_names::TTS],
            ServiceKind::Dialogue => &[service_names::DIALOGUE, service_names::EVENTS],
            ServiceKind::Crm => &[service_names::CRM],
            ServiceKind::Handoff => &[service_names::HANDOFF],
            ServiceKind::Gateway => &[service_names::CONVERSATION, service_names::CHAT],
        }
    }

    /// Services this one calls.
    pub fn depends_on(self) -> &'static [ServiceKind] {
        match self {
            ServiceKind::Gateway => &[
                ServiceKind::Asr,
                ServiceKind::Tts,
                ServiceKind::Dialogue,
                ServiceKind::Crm,
                ServiceKind::Handoff,
            ],
            ServiceKind::Dialogue => &[ServiceKind::Crm, ServiceKind::Handoff],
            _ => &[],
        }
    }
}

impl fmt::Display for ServiceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A service name that is not one of Parla's.
#[derive(Debug, thiserror::Error)]
#[error("unknown service `{given}`; allowed: {allowed}")]
pub struct UnknownService {
    given: String,
    allowed: String,
}

impl FromStr for ServiceKind {
    type Err = UnknownService;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| UnknownService {
                given: s.to_owned(),
                allowed: Self::names(),
            })
    }
}

/// Where a service's model file is, from a setting that is either a
/// provisioned model name or a path to the user's own file.
pub fn resolve_model(key: &str, setting: &str, cache: &ModelCache) -> anyhow::Result<PathBuf> {
    if parla_models::manifest(setting).is_ok() {
        return cache
            .require(setting)
            .map_err(|e| anyhow::anyhow!("`{key}`: {e}"));
    }
    let as_path = PathBuf::from(setting);
    if as_path.is_file() {
        return Ok(as_path);
    }
    let known = parla_models::manifests()
        .iter()
        .map(|m| m.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    anyhow::bail!("`{key}` is {setting:?}, which is neither a model name ({known}) nor a file")
}

/// Loads a service's models on a blocking thread.
pub type Load = Box<dyn FnOnce() -> anyhow::Result<()> + Send>;

/// Adds a service's gRPC handlers to the server's routes.
pub type Register = Box<dyn FnOnce(&mut tonic::service::RoutesBuilder) + Send>;

/// Whether a loaded service can serve right now (polled each second once
/// it is SERVING): false reports it NOT_SERVING until it is true again.
pub type Probe = Arc<dyn Fn() -> bool + Send + Sync>;

/// Work a service does before it can serve: checks that run before the
/// server listens, its gRPC handlers, and a load that runs while the server
/// already answers health. Handlers answer UNAVAILABLE until the load is
/// done.
pub struct Startup {
    /// The service.
    pub kind: ServiceKind,
    /// Loads the models; the service is SERVING once it returns `Ok`.
    pub load: Load,
    /// Registers the service's gRPC handlers.
    pub register: Register,
    /// Its health after the load, if it can change (the ASR watchdog).
    pub probe: Option<Probe>,
}

impl Startup {
    /// A service with nothing to load and no handlers yet.
    pub fn shell(kind: ServiceKind) -> Self {
        Self {
            kind,
            load: Box::new(|| Ok(())),
            register: Box::new(|_| {}),
            probe: None,
        }
    }
}

/// Prepares `kind`: resolves its model files now, so a missing model fails
/// the start with the command that fetches it, and returns the load to run
/// in the background.
pub fn prepare(kind: ServiceKind, config: &Config) -> anyhow::Result<Startup> {
    let cache = ModelCache::new(config.models.cache_dir.clone());
    Ok(match kind {
        ServiceKind::Asr => {
            let asr = &config.asr;
            let paths = parla_asr::AsrPaths {
                model_en: Some(resolve_model("asr.model_en", &asr.model_en, &cache)?),
                model_multilingual: Some(resolve_model(
                    "asr.model_multilingual",
                    &asr.model_multilingual,
                    &cache,
                )?),
                vad: resolve_model("asr.vad_model", &asr.vad_model, &cache)?,
                turn: resolve_model("asr.turn_model", &asr.turn_model, &cache)?,
                onnxruntime: resolve_model("asr.onnxruntime", &asr.onnxruntime, &cache)?,
            };
            let asr = asr.clone();
            let engine = Arc::new(tokio::sync::OnceCell::<Arc<parla_asr::AsrEngine>>::new());
            let service = parla_asr::AsrService::new(Arc::clone(&engine));
            let watched = Arc::clone(&engine);
            Startup {
                kind,
                probe: Some(Arc::new(move || watched.get().is_none_or(|e| e.healthy()))),
                load: Box::new(move || {
                    let loaded = parla_asr::AsrEngine::load(&paths, &asr)?;
                    engine
                        .set(Arc::new(loaded))
                        .map_err(|_| anyhow::anyhow!("asr engine loaded twice"))?;
                    tracing::debug!("asr ready");
                    Ok(())
                }),
                register: Box::new(move |routes| {
                    routes.add_service(service.into_server());
                }),
            }
        }
        ServiceKind::Crm => crm_startup(config)?,
        ServiceKind::Handoff => handoff_startup(config),
        ServiceKind::Tts => tts_startup(config, &cache)?,
        ServiceKind::Dialogue => dialogue_startup(config, &cache)?,
        ServiceKind::Gateway => {
            let (chat_load, chat_register) = chat_parts(config)?;
            let (call_load, call_register) = call_parts(config)?;
            Startup {
                kind,
                probe: None,
                load: Box::new(move || {
                    chat_load()?;
                    call_load()
                }),
                register: Box::new(move |routes| {
                    chat_register(routes);
                    call_register(routes);
                }),
            }
        }
    })
}

/// The customer record: the load opens the database (SQLite file or
/// PostgreSQL URL) and applies its migrations; handlers answer UNAVAILABLE
/// until then.
fn crm_startup(config: &Config) -> anyhow::Result<Startup> {
    let crm = config.crm.clone();
    let service = parla_crm::CrmService::pending(crm.recent_interactions as usize)
        .with_erasure_peers(crate::erasure::erasure_peers(config)?);
    let slot = service.slot();
    Ok(Startup {
        kind: ServiceKind::Crm,
        probe: None,
        load: Box::new(move || {
            let store = parla_crm::open(&crm)?;
            slot.set(store)
                .map_err(|_| anyhow::anyhow!("crm store opened twice"))?;
            Ok(())
        }),
        register: Box::new(move |routes| {
            routes.add_service(service.into_server());
        }),
    })
}

/// The field cipher of one store (`domain`), from the one key setting
/// (`crm.encryption_key` or `crm.encryption_key_file`) that protects the
/// customer record, the chat store and the hand-off queue, each under
/// subkeys of its own. Reads the key file: call from a load thread.
fn store_cipher(
    crm: &parla_crm::CrmConfig,
    domain: &str,
) -> anyhow::Result<parla_seal::FieldCipher> {
    let key = crm.seal_key().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(parla_seal::FieldCipher::for_store(key.as_ref(), domain))
}

/// The hand-off queue: the load opens its SQLite file (beside the CRM's
/// default database unless `handoff.database_path` says otherwise), sealed
/// with the configured encryption key.
fn handoff_startup(config: &Config) -> Startup {
    let path = if config.handoff.database_path.as_os_str().is_empty() {
        config.crm.data_dir.join("handoff.db")
    } else {
        config.handoff.database_path.clone()
    };
    let crm = config.crm.clone();
    let queue = Arc::new(std::sync::OnceLock::new());
    let slot = Arc::clone(&queue);
    let agents = Arc::new(parla_handoff::AgentDirectory::new(
        &config.handoff.agents,
        std::time::Duration::from_secs(config.handoff.session_ttl_secs),
    ));
    let service = parla_handoff::HandoffService::pending(queue)
        .with_agents(agents, config.handoff.require_agent_login)
        .with_crm(lazy_channel(config, ServiceKind::Crm).unwrap_or(None));
    Startup {
        kind: ServiceKind::Handoff,
        probe: None,
        load: Box::new(move || {
            let cipher = store_cipher(&crm, parla_handoff::SEAL_DOMAIN)?;
            let store = parla_handoff::SqliteTicketStore::open_sealed(&path, cipher)
                .map_err(|e| anyhow::anyhow!("`handoff.database_path` {}: {e}", path.display()))?;
            let _ = slot.set(parla_handoff::HandoffQueue::new(Arc::new(store)));
            Ok(())
        }),
        register: Box::new(move |routes| {
            routes.add_service(service.into_server());
        }),
    }
}

/// The dialogue manager: the load trains the understanding and reads the
/// reply templates; the CRM and the hand-off queue are reached over lazy
/// gRPC channels (this process's own address when it runs them).
fn dialogue_startup(config: &Config, cache: &ModelCache) -> anyhow::Result<Startup> {
    let crm = lazy_channel(config, ServiceKind::Crm)?;
    let handoff = lazy_channel(config, ServiceKind::Handoff)?;
    let dialogue = config.dialogue.clone();
    let cache = cache.clone();
    let engine = Arc::new(tokio::sync::OnceCell::new());
    // Flows (`[flows]`): a flow file with an error stops the start here, with file and line.
    let events = parla_flows::EventBus::new();
    let flows = parla_flows::FlowEngine::from_config(
        &config.flows,
        crm.clone(),
        handoff.clone(),
        events.clone(),
    )
    .map_err(|e| anyhow::anyhow!("flows: {e}"))?;
    let service =
        parla_dialogue::DialogueService::new(Arc::clone(&engine), dialogue.clone(), crm, handoff)
            .with_flows(Arc::new(flows));
    Ok(Startup {
        kind: ServiceKind::Dialogue,
        probe: None,
        load: Box::new(move || {
            // Understanding, templates and the language model (`dialogue.llm_model`,
            // `dialogue.llm_backend`): the service answers only once all are loaded.
            let loaded = parla_dialogue::Engine::load(&dialogue, &cache)
                .map_err(|e| anyhow::anyhow!("dialogue: {e}"))?;
            engine
                .set(Arc::new(loaded))
                .map_err(|_| anyhow::anyhow!("dialogue engine loaded twice"))?;
            tracing::debug!("dialogue ready");
            Ok(())
        }),
        register: Box::new(move |routes| {
            routes.add_service(service.into_server());
            routes.add_service(parla_flows::EventsService::new(events).into_server());
        }),
    })
}

/// Speech synthesis: eSpeak NG always, the Piper voice when
/// `tts.piper_model` is set (its model and ONNX Runtime are resolved now).
fn tts_startup(config: &Config, cache: &ModelCache) -> anyhow::Result<Startup> {
    let tts = config.tts.clone();
    let piper = if tts.piper_model.trim().is_empty() {
        None
    } else {
        Some(parla_tts::PiperFiles {
            model: resolve_model("tts.piper_model", &tts.piper_model, cache)?,
            onnxruntime: resolve_model("tts.onnxruntime", &tts.onnxruntime, cache)?,
        })
    };
    let bank = Arc::new(tokio::sync::OnceCell::new());
    let service = parla_tts::TtsService::new(Arc::clone(&bank));
    Ok(Startup {
        kind: ServiceKind::Tts,
        probe: None,
        load: Box::new(move || {
            let loaded = parla_tts::VoiceBank::load(&tts, piper.as_ref())?;
            bank.set(Arc::new(loaded))
                .map_err(|_| anyhow::anyhow!("tts voices loaded twice"))?;
            tracing::debug!("tts ready");
            Ok(())
        }),
        register: Box::new(move |routes| {
            routes.add_service(service.into_server());
        }),
    })
}

/// A lazy gRPC channel to `kind` (this process's own address when it runs
/// it), presenting `security.service_token` when one is set; `None` when
/// the service is neither run here nor configured.
pub(crate) fn lazy_channel(
    config: &Config,
    kind: ServiceKind,
) -> anyhow::Result<Option<PeerChannel>> {
    let mut own = config.listen;
    if own.ip().is_unspecified() {
        own.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let token = service_token(config)?;
    endpoint_url(config, kind, own)
        .map(|url| {
            PeerChannel::lazy(&url, token.as_ref())
                .map_err(|e| anyhow::anyhow!("`remote.{kind}` {url:?}: {e}"))
        })
        .transpose()
}

/// The configured service token, for clients of a Parla server.
pub fn service_token(config: &Config) -> anyhow::Result<Option<ServiceToken>> {
    config
        .security
        .service_token()
        .map_err(|(key, problem)| anyhow::anyhow!("invalid configuration: `{key}` {problem}"))
}

/// Web chats (`parla.v1.Chat`): the load opens `chat.db` (beside the CRM's
/// default database unless `gateway.chat.database_path` says otherwise)
/// sealed with the configured encryption key, and starts following the
/// hand-off queue.
fn chat_parts(config: &Config) -> anyhow::Result<(Load, Register)> {
    let chat = &config.gateway.chat;
    let path = if chat.database_path.as_os_str().is_empty() {
        config.crm.data_dir.join("chat.db")
    } else {
        chat.database_path.clone()
    };
    let peers = parla_gateway::chat::Peers {
        dialogue: lazy_channel(config, ServiceKind::Dialogue)?,
        crm: lazy_channel(config, ServiceKind::Crm)?,
        handoff: lazy_channel(config, ServiceKind::Handoff)?,
    };
    let service = parla_gateway::chat::ChatService::new(
        chat.clone(),
        config.gateway.max_message_bytes,
        peers,
    );
    let opened = service.clone();
    let crm = config.crm.clone();
    Ok((
        Box::new(move || {
            let cipher = store_cipher(&crm, parla_gateway::chat::SEAL_DOMAIN)?;
            opened.open(&path, cipher).map_err(|e| {
                anyhow::anyhow!("`gateway.chat.database_path` {}: {e}", path.display())
            })?;
            opened.follow_handoff();
            opened.recover_unanswered();
            Ok(())
        }),
        Box::new(move |routes| {
            routes.add_service(service.into_server());
        }),
    ))
}

/// Voice calls (`parla.v1.Conversation`): calls reach the ASR, TTS and
/// dialogue over lazy channels; the load starts the metrics endpoint
/// (`gateway.call.metrics_listen`) when configured.
fn call_parts(config: &Config) -> anyhow::Result<(Load, Register)> {
    let need = |kind: ServiceKind| -> anyhow::Result<PeerChannel> {
        lazy_channel(config, kind)?.ok_or_else(|| {
            anyhow::anyhow!("voice calls need {kind}: run it here or set `remote.{kind}`")
        })
    };
    let backends = parla_gateway::call::Backends {
        asr: need(ServiceKind::Asr)?,
        tts: need(ServiceKind::Tts)?,
        dialogue: need(ServiceKind::Dialogue)?,
    };
    let calls = config.gateway.call.clone();
    let metrics = Arc::new(parla_gateway::call::CallMetrics::default());
    let service =
        parla_gateway::call::CallService::new(backends, calls.clone(), Arc::clone(&metrics));
    let sip = config.gateway.sip.clone();
    if !sip.listen.is_empty() {
        check_sip_port(&sip.listen)?;
    }
    let phone = service.clone();
    // A failed transfer asks the queue for a call-back; without one the
    // caller is still told and kept.
    let handoff = lazy_channel(config, ServiceKind::Handoff)?;
    Ok((
        Box::new(move || {
            if !sip.listen.is_empty() {
                let bound = tokio::runtime::Handle::current()
                    .block_on(parla_gateway::sip::start(sip, phone, handoff.clone()))
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                tracing::info!(address = %bound, "SIP calls at sip:parla@{bound}");
            }
            if let Ok(addr) = calls.metrics_listen.parse::<std::net::SocketAddr>() {
                let bound = tokio::runtime::Handle::current()
                    .block_on(parla_gateway::call::metrics::serve(addr, metrics))
                    .map_err(|e| anyhow::anyhow!("`gateway.call.metrics_listen` {addr}: {e}"))?;
                tracing::info!(address = %bound, "call metrics at http://{bound}/metrics");
            }
            Ok(())
        }),
        Box::new(move |routes| {
            routes.add_service(service.into_server());
        }),
    ))
}

/// Refuses to start when the SIP address is not one or its UDP port is
/// taken: a phone line that cannot ring must not pass for a running server.
fn check_sip_port(listen: &str) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = listen.parse().map_err(|_| {
        anyhow::anyhow!(
            "`gateway.sip.listen` is {listen:?}: give an address such as 127.0.0.1:5070"
        )
    })?;
    std::net::UdpSocket::bind(addr).map_err(|e| {
        anyhow::anyhow!(
            "`gateway.sip.listen` {addr}: {e}; another process answers on that port: stop it or choose a free port"
        )
    })?;
    Ok(())
}

/// The URL at which this process reaches `kind`: its own address when it
/// runs the service, else the configured remote URL.
pub fn endpoint_url(
    config: &Config,
    kind: ServiceKind,
    own: std::net::SocketAddr,
) -> Option<String> {
    if config.services.contains(&kind) {
        Some(format!("http://{own}"))
    } else {
        config.remote.url(kind).map(str::to_owned)
    }
}
