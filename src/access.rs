//! Who may call what on a `parla serve` port once `security.service_token`
//! is set: the layer that checks the `x-parla-service-token` header before
//! any handler runs.
//!
//! Every RPC is internal (the token is required) unless this file lists it:
//! a new RPC, reflection, or a path no service serves is refused rather
//! than exposed by default. Public are the edges customers and agents use
//! directly, which carry their own credentials: the chat widget's calls
//! (shop and conversation tokens), voice calls from apps, the agent
//! console's calls (agent sessions, checked by the hand-off service) and
//! health. The queue views both the console and the chat gateway read
//! admit either an agent session or the token; the hand-off service decides
//! from the [`ServiceTokenCheck`] this layer leaves on the request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use parla_proto::service_names as names;
use parla_proto::service_token::{ServiceTokenCheck, SERVICE_TOKEN_HEADER, SERVICE_TOKEN_SETTING};
use parla_proto::ServiceToken;
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;

/// Who may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who reaches the port; the RPC checks its own credentials.
    Public,
    /// An agent session or the service token.
    AgentOrService,
    /// Parla's services only: the service token.
    Service,
}

/// The chat widget's calls: shop and conversation tokens.
const CHAT_PUBLIC: [&str; 3] = ["Send", "Events", "Verify"];
/// The agent console's calls: sign-in, and calls that need its session.
const CONSOLE: [&str; 9] = [
    "AgentLogin",
    "Claim",
    "AgentReply",
    "Release",
    "SetPresence",
    "ListAgents",
    "GetTicket",
    "Transfer",
    "TakeOver",
];
/// Queue views the console and the chat gateway both read.
const QUEUE_VIEWS: [&str; 2] = ["ListTickets", "WatchQueue"];

/// Who may call the RPC at `path` (`/package.Service/Method`).
pub fn access(path: &str) -> Access {
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return Access::Service;
    };
    match service {
        "grpc.health.v1.Health" => Access::Public,
        // Voice calls from apps: the edge, like a phone call over SIP.
        names::CONVERSATION if method == "Call" => Access::Public,
        names::CHAT if CHAT_PUBLIC.contains(&method) => Access::Public,
        names::HANDOFF if CONSOLE.contains(&method) => Access::Public,
        names::HANDOFF if QUEUE_VIEWS.contains(&method) => Access::AgentOrService,
        _ => Access::Service,
    }
}

/// Tower layer that refuses internal RPCs without the service token.
#[derive(Clone)]
pub struct ServiceTokenLayer {
    token: ServiceToken,
}

impl ServiceTokenLayer {
    /// A layer checking for `token`.
    pub fn new(token: ServiceToken) -> Self {
        Self { token }
    }
}

impl<S> tower::Layer<S> for ServiceTokenLayer {
    type Service = ServiceTokenCheckService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServiceTokenCheckService {
            inner,
            token: self.token.clone(),
        }
    }
}

/// See [`ServiceTokenLayer`].
#[derive(Clone)]
pub struct ServiceTokenCheckService<S> {
    inner: S,
    token: ServiceToken,
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    Missing,
    Wrong,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<Request<B>> for ServiceTokenCheckService<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Response<Body>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let access = access(req.uri().path());
        if access == Access::Public {
            return Box::pin(self.inner.call(req));
        }
        let presented = req
            .headers()
            .get(SERVICE_TOKEN_HEADER)
            .map(|v| self.token.matches(v.as_bytes()));
        let check = match (presented, access) {
            (Some(true), _) => ServiceTokenCheck::Verified,
            (None, Access::AgentOrService) => ServiceTokenCheck::Missing,
            (None, _) => return refuse(&req, Refusal::Missing),
            (Some(false), _) => return refuse(&req, Refusal::Wrong),
        };
        req.extensions_mut().insert(check);
        Box::pin(self.inner.call(req))
    }
}

/// UNAUTHENTICATED, with a message that names the header and the setting,
/// and a warning in the log (never the presented value).
fn refuse<B, E: Send + 'static>(req: &Request<B>, why: Refusal) -> BoxFuture<Response<Body>, E> {
    let rpc = req.uri().path().to_owned();
    let remote = req
        .extensions()
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|a| a.to_string())
        .unwrap_or_default();
    let message = match why {
        Refusal::Missing => {
            tracing::warn!(%rpc, %remote, "internal rpc refused: no service token");
            format!(
                "{rpc} is internal to Parla: send the service token in the \
                 `{SERVICE_TOKEN_HEADER}` header (the server's `{SERVICE_TOKEN_SETTING}`)"
            )
        }
        Refusal::Wrong => {
            tracing::warn!(%rpc, %remote, "internal rpc refused: wrong service token");
            format!(
                "the `{SERVICE_TOKEN_HEADER}` header does not match the server's \
                 `{SERVICE_TOKEN_SETTING}`"
            )
        }
    };
    let response = tonic::Status::unauthenticated(message).into_http::<Body>();
    Box::pin(async move { Ok(response) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_edges_are_public() {
        for path in [
            "/grpc.health.v1.Health/Check",
            "/grpc.health.v1.Health/Watch",
            "/parla.v1.Chat/Send",
            "/parla.v1.Chat/Events",
            "/parla.v1.Chat/Verify",
            "/parla.v1.Conversation/Call",
            "/parla.v1.Handoff/AgentLogin",
            "/parla.v1.Handoff/Claim",
            "/parla.v1.Handoff/GetTicket",
        ] {
            assert_eq!(access(path), Access::Public, "{path}");
        }
        for path in [
            "/parla.v1.Handoff/ListTickets",
            "/parla.v1.Handoff/WatchQueue",
        ] {
            assert_eq!(access(path), Access::AgentOrService, "{path}");
        }
        for path in [
            "/parla.v1.Crm/IdentifyCustomer",
            "/parla.v1.Crm/ExportCustomer",
            "/parla.v1.Crm/EraseCustomer",
            "/parla.v1.Dialogue/Converse",
            "/parla.v1.Handoff/Escalate",
            "/parla.v1.Handoff/CustomerMessage",
            "/parla.v1.Handoff/RequestCallback",
            "/parla.v1.Handoff/ForgetCustomer",
            "/parla.v1.Chat/ForgetCustomer",
            "/parla.v1.Asr/Recognize",
            "/parla.v1.Tts/Synthesize",
            "/parla.v1.Events/Subscribe",
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/parla.v1.Crm/SomethingNew",
            "/parla.v1.Conversation/Other",
            "/unknown",
            "/",
        ] {
            assert_eq!(access(path), Access::Service, "{path}");
        }
    }
}
