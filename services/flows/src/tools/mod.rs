//! Running the tools a flow step calls: the built-ins that reach other services
//! (`weather.outlook`, `products.recommend`, `return.create` through the CRM, `case.open`
//! through the hand-off queue) and the developer's webhooks and gRPC tools. Every call comes
//! back as a [`ToolResult`]: succeeded with facts, failed (nothing was done) or unknown (the
//! tool may have acted, Parla cannot tell); the runner decides what the customer hears.

mod developer;
pub mod recommend;

use std::sync::Arc;
use std::time::Duration;

use parla_proto::v1 as pb;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::handoff_client::HandoffClient;
use parla_proto::PeerChannel;

pub use developer::{body as webhook_body, parse_answer, signature};

use crate::facts::Facts;
use crate::places;
use crate::runner::{ToolCall, ToolOutcome, ToolResult};
use crate::spec::ToolKind;
use crate::weather::{self, WeatherProvider};
use crate::{FlowSet, Lang};

/// Why a tool call failed. [`ToolError::may_have_acted`] tells a failure after which nothing
/// was done from one after which the tool may have acted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    /// No answer within the timeout (ms), after the request was sent.
    #[error("no answer within {0} ms")]
    Timeout(u64),
    /// An HTTP status that is not success: 4xx is a refusal, 5xx may follow work done.
    #[error("answered HTTP {0}")]
    Status(u16),
    /// No connection could be made: the request was never sent.
    #[error("could not connect: {0}")]
    Unreachable(String),
    /// The connection or transfer failed after the request was sent.
    #[error("transport error: {0}")]
    Transport(String),
    /// The answer is not JSON.
    #[error("answer is not valid JSON: {0}")]
    InvalidJson(String),
    /// The answer has an unexpected shape.
    #[error("unexpected answer: {0}")]
    Schema(String),
    /// A gRPC tool answered with an error status.
    #[error("grpc tool failed: {code:?}: {message}")]
    Grpc {
        /// The status code.
        code: tonic::Code,
        /// Its message.
        message: String,
    },
    /// The CRM or hand-off queue refused or failed.
    #[error("{message}")]
    Service {
        /// The status code.
        code: tonic::Code,
        /// What was asked and the status message.
        message: String,
    },
    /// The tool cannot be called as configured.
    #[error("not configured: {0}")]
    NotConfigured(String),
}

impl ToolError {
    /// The request may have reached the tool and been carried out: it was sent and no readable
    /// answer came back, or the answer was an error that does not say nothing was done (HTTP
    /// 5xx; gRPC UNKNOWN, INTERNAL, UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, DATA_LOSS).
    pub fn may_have_acted(&self) -> bool {
        match self {
            ToolError::Timeout(_)
            | ToolError::Transport(_)
            | ToolError::InvalidJson(_)
            | ToolError::Schema(_) => true,
            ToolError::Status(code) => !(400..500).contains(code),
            ToolError::Unreachable(_) | ToolError::NotConfigured(_) => false,
            ToolError::Grpc { code, .. } | ToolError::Service { code, .. } => matches!(
                code,
                tonic::Code::Unknown
                    | tonic::Code::Internal
                    | tonic::Code::Unavailable
                    | tonic::Code::DeadlineExceeded
                    | tonic::Code::Cancelled
                    | tonic::Code::DataLoss
            ),
        }
    }

    /// The error of a gRPC status: [`ToolError::Unreachable`] when no connection could be made
    /// (the request never left), [`ToolError::Timeout`] when the client's own deadline of
    /// `timeout_ms` passed (after sending), else `service` (`Grpc` or `Service`) with the code.
    pub(crate) fn from_status(
        status: &tonic::Status,
        timeout_ms: Option<u64>,
        service: impl FnOnce(tonic::Code, String) -> ToolError,
    ) -> ToolError {
        let mut source = std::error::Error::source(status);
        while let Some(e) = source {
            if e.is::<tonic::ConnectError>() {
                return ToolError::Unreachable(status.message().to_owned());
            }
            if let (true, Some(ms)) = (e.is::<tonic::TimeoutExpired>(), timeout_ms) {
                return ToolError::Timeout(ms);
            }
            source = e.source();
        }
        service(status.code(), status.message().to_owned())
    }
}

/// What the attempts of one call came to.
#[derive(Debug)]
pub(crate) struct Attempts {
    /// The last attempt's result.
    pub result: Result<Facts, ToolError>,
    /// Attempts made.
    pub count: u32,
    /// An earlier attempt's error after which the tool may have acted: a later attempt that
    /// could not even connect does not make the call one that did nothing.
    pub unconfirmed: Option<ToolError>,
}

impl Attempts {
    /// A call tried once.
    fn once(result: Result<Facts, ToolError>) -> Self {
        Attempts {
            result,
            count: 1,
            unconfirmed: None,
        }
    }

    /// Succeeded, failed (nothing done) or unknown (maybe done).
    fn outcome(self) -> ToolOutcome {
        match self.result {
            Ok(f) => ToolOutcome::Succeeded(f),
            Err(e) if e.may_have_acted() => ToolOutcome::Unknown(e.to_string()),
            Err(e) => match self.unconfirmed {
                Some(first) => ToolOutcome::Unknown(format!("{first}; then {e}")),
                None => ToolOutcome::Failed(e.to_string()),
            },
        }
    }
}

/// Who is calling, for the tools.
#[derive(Debug, Clone)]
pub struct CallContext<'a> {
    /// Conversation id.
    pub conversation_id: &'a str,
    /// Customer id ("" when anonymous).
    pub customer_id: &'a str,
    /// CRM context.
    pub context: Option<&'a pb::CustomerContext>,
    /// The caller's phone number, when the channel knows it.
    pub caller_phone: Option<&'a str>,
    /// Language.
    pub lang: Lang,
    /// Today (Unix seconds).
    pub today: i64,
    /// Facts and slots so far.
    pub facts: &'a Facts,
}

/// Runs tools.
#[derive(Debug, Clone)]
pub struct Toolbox {
    flows: FlowSet,
    crm: Option<PeerChannel>,
    handoff: Option<PeerChannel>,
    weather: Arc<dyn WeatherProvider>,
    http: reqwest::Client,
}

impl Toolbox {
    /// Tools over these channels (lazy; `None` when the service is not configured).
    pub fn new(
        flows: FlowSet,
        crm: Option<PeerChannel>,
        handoff: Option<PeerChannel>,
        weather: Arc<dyn WeatherProvider>,
    ) -> Self {
        Toolbox {
            flows,
            crm,
            handoff,
            weather,
            http: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
        }
    }

    /// Runs one call; never fails: a failure is in the result, as failed (nothing done) or
    /// unknown (maybe done).
    pub async fn call(&self, call: &ToolCall, cx: &CallContext<'_>) -> ToolResult {
        let started = std::time::Instant::now();
        let done = self.dispatch(call, cx).await;
        let attempts = done.count;
        let outcome = done.outcome();
        let ms = started.elapsed().as_millis() as u64;
        match outcome.error() {
            None => {
                tracing::info!(tool = %call.tool, step = %call.step, attempts, ms, "tool called")
            }
            Some(e) => {
                tracing::warn!(tool = %call.tool, step = %call.step, attempts, ms, outcome = outcome.as_str(), key = %call.idempotency_key, error = %e, "tool did not succeed")
            }
        }
        ToolResult { outcome, attempts }
    }

    async fn dispatch(&self, call: &ToolCall, cx: &CallContext<'_>) -> Attempts {
        match call.tool.as_str() {
            "weather.outlook" => Attempts::once(Ok(self.weather(cx).await)),
            "products.recommend" => Attempts::once(self.recommend(call, cx).await),
            "return.create" => Attempts::once(self.create_return(call, cx).await),
            "case.open" => Attempts::once(self.open_case(call, cx).await),
            name => {
                let Some(spec) = self
                    .flows
                    .get(&call.flow)
                    .and_then(|f| f.spec.tools.get(name))
                else {
                    return Attempts {
                        count: 0,
                        ..Attempts::once(Err(ToolError::NotConfigured(format!(
                            "unknown tool `{name}`"
                        ))))
                    };
                };
                match spec.kind {
                    ToolKind::Webhook => developer::webhook(&self.http, spec, call, cx).await,
                    ToolKind::Grpc => developer::grpc(spec, call, cx).await,
                }
            }
        }
    }

    async fn weather(&self, cx: &CallContext<'_>) -> Facts {
        let Some(place) = places::locate(cx.context, cx.caller_phone, cx.lang) else {
            tracing::info!(
                conversation = cx.conversation_id,
                "customer not located; no weather"
            );
            return weather::no_weather();
        };
        match self.weather.outlook(&place, cx.today).await {
            Ok(o) => weather::outlook_facts(&place, &o, cx.today, cx.lang),
            Err(e) => {
                tracing::info!(place = %place.name, error = %e, "no weather; recommending on attributes");
                weather::no_weather()
            }
        }
    }

    async fn recommend(&self, call: &ToolCall, cx: &CallContext<'_>) -> Result<Facts, ToolError> {
        let channel = self
            .crm
            .clone()
            .ok_or_else(|| ToolError::NotConfigured("no crm".into()))?;
        let fact = |k: &str| cx.facts.get(k).map(String::as_str).unwrap_or("");
        let want =
            recommend::Want::from_reason(call.args.get("reason").map(String::as_str).unwrap_or(""));
        let size = match want {
            recommend::Want::Warmer => Some(fact("size").to_owned()),
            recommend::Want::Bigger => recommend::next_size(fact("size"), 1),
            recommend::Want::Smaller => recommend::next_size(fact("size"), -1),
        };
        let Some(size) = size else {
            return Ok(recommend::facts(None, ""));
        };
        let found = CrmClient::new(channel)
            .search_products(pb::SearchProductsRequest {
                category: fact("category").to_owned(),
                attributes: Default::default(),
                size: size.clone(),
            })
            .await
            .map_err(|s| {
                ToolError::from_status(&s, None, |code, m| ToolError::Service {
                    code,
                    message: format!("crm search: {m}"),
                })
            })?
            .into_inner()
            .products;
        let pick = match want {
            recommend::Want::Warmer => {
                let coldest = (fact("weather_known") == "true")
                    .then(|| fact("temp_min_c").parse::<f32>().ok())
                    .flatten();
                recommend::warmer(&found, fact("sku"), coldest)
            }
            _ => found.iter().find(|p| p.name == fact("product")),
        };
        Ok(recommend::facts(pick, &size))
    }

    async fn create_return(
        &self,
        call: &ToolCall,
        cx: &CallContext<'_>,
    ) -> Result<Facts, ToolError> {
        let channel = self
            .crm
            .clone()
            .ok_or_else(|| ToolError::NotConfigured("no crm".into()))?;
        let arg = |k: &str| call.args.get(k).cloned().unwrap_or_default();
        let line = arg("line_id");
        let r = CrmClient::new(channel)
            .create_return(pb::CreateReturnRequest {
                order_id: arg("order_id"),
                line_ids: if line.is_empty() { vec![] } else { vec![line] },
                reason: arg("reason"),
                resolution: arg("resolution"),
                exchange_sku: arg("exchange_sku"),
                exchange_size: arg("exchange_size"),
                conversation_id: cx.conversation_id.to_owned(),
            })
            .await
            .map_err(|s| {
                ToolError::from_status(&s, None, |code, m| ToolError::Service {
                    code,
                    message: format!("crm refused the return: {m}"),
                })
            })?
            .into_inner();
        let mut f = Facts::new();
        f.insert("rma_id".into(), r.rma_id);
        f.insert("return_status".into(), r.status);
        f.insert("resolution".into(), r.resolution);
        Ok(f)
    }

    async fn open_case(&self, call: &ToolCall, cx: &CallContext<'_>) -> Result<Facts, ToolError> {
        let channel = self
            .handoff
            .clone()
            .ok_or_else(|| ToolError::NotConfigured("no hand-off queue".into()))?;
        let skill = self
            .flows
            .get(&call.flow)
            .map(|f| f.spec.policy.case_skill.clone())
            .unwrap_or_else(|| "cases".into());
        let reason = call.args.get("reason").cloned().unwrap_or_default();
        let order = call.args.get("order_id").cloned().unwrap_or_default();
        let customer = cx.context.and_then(|c| c.customer.as_ref());
        let context = pb::ContextPackage {
            conversation_id: cx.conversation_id.to_owned(),
            language: match cx.lang {
                Lang::En => "en",
                Lang::It => "it",
            }
            .into(),
            customer_id: cx.customer_id.to_owned(),
            // The case may also be the conversation's hand-off ticket (a late delivery handed
            // to a person): the agent sees who it is and the order.
            customer_name: customer.map(|c| c.name.clone()).unwrap_or_default(),
            tier: customer.map(|c| c.tier.clone()).unwrap_or_default(),
            order_id: order.clone(),
            summary: format!("case for order {order}: {reason}"),
            decision: Some(pb::HandoffDecision {
                handoff: false,
                explanation: format!("case opened by flow {} ({reason})", call.flow),
                ..Default::default()
            }),
            ..Default::default()
        };
        let ticket = HandoffClient::new(channel)
            .escalate(pb::EscalateRequest {
                context: Some(context),
                skill,
            })
            .await
            .map_err(|s| {
                ToolError::from_status(&s, None, |code, m| ToolError::Service {
                    code,
                    message: format!("case not opened: {m}"),
                })
            })?
            .into_inner();
        let mut f = Facts::new();
        f.insert("case_id".into(), ticket.id);
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_may_have_acted() {
        let acted = [
            ToolError::Timeout(300),
            ToolError::Status(500),
            ToolError::Status(503),
            ToolError::Transport("connection reset".into()),
            ToolError::InvalidJson("eof".into()),
            ToolError::Schema("lacks `rma_id`".into()),
            ToolError::Grpc {
                code: tonic::Code::DeadlineExceeded,
                message: String::new(),
            },
            ToolError::Service {
                code: tonic::Code::Internal,
                message: String::new(),
            },
        ];
        let nothing = [
            ToolError::Status(400),
            ToolError::Status(422),
            ToolError::Unreachable("refused".into()),
            ToolError::NotConfigured("no key".into()),
            ToolError::Grpc {
                code: tonic::Code::InvalidArgument,
                message: String::new(),
            },
            ToolError::Service {
                code: tonic::Code::FailedPrecondition,
                message: String::new(),
            },
        ];
        for e in acted {
            assert!(e.may_have_acted(), "{e}");
        }
        for e in nothing {
            assert!(!e.may_have_acted(), "{e}");
        }
    }

    #[test]
    fn one_attempt_that_may_have_acted_makes_the_call_unknown() {
        let later_unreachable = Attempts {
            result: Err(ToolError::Unreachable("refused".into())),
            count: 3,
            unconfirmed: Some(ToolError::Timeout(300)),
        };
        match later_unreachable.outcome() {
            ToolOutcome::Unknown(why) => {
                assert!(why.contains("300 ms") && why.contains("refused"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        let never_sent = Attempts {
            result: Err(ToolError::Unreachable("refused".into())),
            count: 3,
            unconfirmed: None,
        };
        assert!(matches!(never_sent.outcome(), ToolOutcome::Failed(_)));
        let refused = Attempts::once(Err(ToolError::Status(409)));
        assert!(matches!(refused.outcome(), ToolOutcome::Failed(_)));
    }
}
