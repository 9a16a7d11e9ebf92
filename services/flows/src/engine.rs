//! Flows ready to run in a dialogue: the flow files (shipped or the developer's directory), the
//! runner, the toolbox with its weather provider, and the event bus. [`FlowEngine::turn`] drives
//! one customer turn through the runner, running the tools it asks for and publishing the tool
//! calls, actions and outcome as events.

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use parla_proto::PeerChannel;

use crate::runner::{Directive, FlowReply, FlowRunner, FlowState, TurnInput};
use crate::tools::CallContext;
use crate::weather::{Chain, ClimateNormals, OpenMeteo, WeatherProvider};
use crate::{
    EventBus, FlowError, FlowSet, FlowsConfig, Toolbox, WeatherConfig, WeatherProviderKind,
};

/// Who a turn belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    /// Conversation id.
    pub conversation_id: &'a str,
    /// Customer id ("" when anonymous).
    pub customer_id: &'a str,
    /// The caller's phone number, when the channel knows it.
    pub caller_phone: Option<&'a str>,
    /// Turn index.
    pub turn_index: u32,
}

/// Flows with their tools and events.
#[derive(Debug, Clone)]
pub struct FlowEngine {
    /// The runner.
    pub runner: FlowRunner,
    /// The tools.
    pub toolbox: Toolbox,
    /// Conversation events.
    pub events: EventBus,
    config: FlowsConfig,
}

/// The weather provider the settings ask for.
pub fn weather_provider(w: &WeatherConfig) -> Result<Arc<dyn WeatherProvider>, FlowError> {
    let open_meteo = || {
        OpenMeteo::new(
            &w.open_meteo_url,
            &w.geocoding_url,
            Duration::from_millis(w.timeout_ms),
            Duration::from_secs(w.cache_secs),
        )
        .map_err(|e| FlowError::Setting {
            key: "flows.weather".into(),
            problem: e.to_string(),
        })
    };
    Ok(match w.provider {
        WeatherProviderKind::Auto => Arc::new(Chain(vec![
            Box::new(open_meteo()?),
            Box::new(ClimateNormals),
        ])),
        WeatherProviderKind::OpenMeteo => Arc::new(open_meteo()?),
        WeatherProviderKind::Offline => Arc::new(ClimateNormals),
        WeatherProviderKind::None => Arc::new(Chain(Vec::new())),
    })
}

impl FlowEngine {
    /// Loads the flows (`flows.dir`, else the shipped ones) and builds the tools over these
    /// lazy channels. A flow file with an error fails here, with its file, line and reason.
    pub fn from_config(
        config: &FlowsConfig,
        crm: Option<PeerChannel>,
        handoff: Option<PeerChannel>,
        events: EventBus,
    ) -> Result<Self, FlowError> {
        config.validate()?;
        let set = if config.dir.trim().is_empty() {
            FlowSet::shipped()?
        } else {
            FlowSet::load_dir(Path::new(config.dir.trim()))?
        };
        let weather = weather_provider(&config.weather)?;
        tracing::info!(flows = set.flows().len(), dir = %config.dir, "flows loaded");
        Ok(FlowEngine {
            runner: FlowRunner::new(set.clone()),
            toolbox: Toolbox::new(set, crm, handoff, weather),
            events,
            config: config.clone(),
        })
    }

    /// Today (Unix seconds): `flows.today`, else the clock.
    pub fn today(&self) -> i64 {
        self.config.today()
    }

    /// Runs one customer turn; `None` when no flow takes it.
    pub async fn turn(
        &self,
        state: &mut FlowState,
        input: &TurnInput<'_>,
        who: Who<'_>,
    ) -> Option<FlowReply> {
        match self.turn_gated(state, input, who, &mut Open).await {
            Gated::Reply(reply) => reply,
            Gated::Withdrawn => None,
        }
    }

    /// [`FlowEngine::turn`], asking `gate` before each action (a tool that changes something
    /// in the world): a spoken turn may still be taken back by the caller, and reads and the
    /// reply can go ahead while only an action waits. When the gate says no, the turn stops
    /// before the action and nothing is published; the caller restores the state it had.
    pub async fn turn_gated(
        &self,
        state: &mut FlowState,
        input: &TurnInput<'_>,
        who: Who<'_>,
        gate: &mut dyn ActionGate,
    ) -> Gated {
        if state.conversation_id.is_empty() {
            state.conversation_id = who.conversation_id.to_owned();
        }
        let mut d = self.runner.turn(state, input);
        let reply = loop {
            match d {
                Directive::Pass => return Gated::Reply(None),
                Directive::Reply(r) => break r,
                Directive::Call(call) => {
                    if call.action && !gate.proceed().await {
                        tracing::info!(flow = %call.flow, step = %call.step, "action withdrawn with its turn");
                        return Gated::Withdrawn;
                    }
                    let known = state.known();
                    let cx = CallContext {
                        conversation_id: who.conversation_id,
                        customer_id: who.customer_id,
                        context: input.context,
                        caller_phone: who.caller_phone,
                        lang: input.lang,
                        today: input.today,
                        facts: &known,
                    };
                    let result = self.toolbox.call(&call, &cx).await;
                    d = self.runner.resume(state, input, result);
                }
            }
        };
        self.events.publish_flow(
            who.conversation_id,
            who.customer_id,
            who.turn_index,
            &state.flow,
            &reply,
        );
        Gated::Reply(Some(reply))
    }
}

/// Asked before a flow's action: may the turn act now?
pub trait ActionGate: Send {
    /// True to carry out the action; false when the turn was taken back.
    fn proceed(&mut self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
}

/// The gate of a turn that is final as it arrives (typed chat): always open.
pub struct Open;

impl ActionGate for Open {
    fn proceed(&mut self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(std::future::ready(true))
    }
}

/// How a gated turn ended.
#[derive(Debug)]
pub enum Gated {
    /// The flow's reply, or `None` when no flow took the turn.
    Reply(Option<FlowReply>),
    /// The gate said no before an action: the turn was taken back.
    Withdrawn,
}
