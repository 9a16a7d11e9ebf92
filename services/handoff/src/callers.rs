//! Who is calling the hand-off queue: the console's agent sessions
//! (`authorization: Bearer <token>` from `AgentLogin`) and, for the queue
//! views, Parla's own services admitted by the server's service-token
//! check.

use std::sync::Arc;

use parla_proto::service_token::{ServiceTokenCheck, SERVICE_TOKEN_HEADER, SERVICE_TOKEN_SETTING};
use tonic::{Request, Status};

use crate::agents::{AgentAccount, AgentDirectory};

/// Agent accounts and whether agent calls need a session.
#[derive(Clone, Default)]
pub(crate) struct Callers {
    agents: Option<Arc<AgentDirectory>>,
    require_login: bool,
}

impl Callers {
    /// Sessions of `agents`; with `require_login`, agent calls need one.
    pub(crate) fn new(agents: Arc<AgentDirectory>, require_login: bool) -> Self {
        Self {
            agents: Some(agents),
            require_login,
        }
    }

    /// The agent accounts, if any are configured.
    pub(crate) fn agents(&self) -> Option<Arc<AgentDirectory>> {
        self.agents.clone()
    }

    pub(crate) fn directory(&self) -> Option<&AgentDirectory> {
        self.agents.as_deref()
    }

    /// The session token the request carries (`authorization: Bearer
    /// …`), when agent accounts are configured.
    pub(crate) fn session_token<T>(&self, request: &Request<T>) -> Option<String> {
        self.directory()?;
        let header = request.metadata().get("authorization")?.to_str().ok()?;
        Some(
            header
                .strip_prefix("Bearer ")
                .unwrap_or(header)
                .trim()
                .to_owned(),
        )
    }

    /// The signed-in agent, if the request carries a session.
    pub(crate) fn caller<T>(&self, request: &Request<T>) -> Result<Option<AgentAccount>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match (header, self.directory()) {
            (Some(h), Some(dir)) => {
                let token = h.strip_prefix("Bearer ").unwrap_or(h).trim();
                dir.session(token).cloned().map(Some).map_err(|e| {
                    tracing::info!("agent session refused");
                    Status::unauthenticated(e.to_string())
                })
            }
            _ if self.require_login => Err(Status::unauthenticated(
                "agent calls need a console session: call AgentLogin and send `authorization: Bearer <token>`",
            )),
            _ => Ok(None),
        }
    }

    /// Who reads a queue view (`ListTickets`, `WatchQueue`), which the
    /// console and Parla's services both call. When the server checks a
    /// service token, a call that carried it sees everything and any other
    /// needs a valid agent session; with no token configured the view is
    /// the console's (`caller`).
    pub(crate) fn viewer<T>(&self, request: &Request<T>) -> Result<Option<AgentAccount>, Status> {
        match ServiceTokenCheck::of(request) {
            Some(ServiceTokenCheck::Verified) => Ok(None),
            Some(ServiceTokenCheck::Missing) => {
                let session = match request.metadata().get("authorization") {
                    Some(_) => self.caller(request)?,
                    None => None,
                };
                session.map(Some).ok_or_else(|| {
                    tracing::warn!(
                        "queue view refused: neither an agent session nor the service token"
                    );
                    Status::unauthenticated(format!(
                        "the queue needs an agent session (`authorization: Bearer <token>` from \
                         AgentLogin) or the service token (`{SERVICE_TOKEN_HEADER}`, the server's \
                         `{SERVICE_TOKEN_SETTING}`)"
                    ))
                })
            }
            None => self.caller(request),
        }
    }

    /// The agent acting: the session's, or the request's when sign-in is off.
    pub(crate) fn acting(caller: &Option<AgentAccount>, given: &str) -> Result<String, Status> {
        match caller {
            Some(a) if !given.is_empty() && given != a.id => Err(Status::permission_denied(
                format!("signed in as {:?}; cannot act as {given:?}", a.id),
            )),
            Some(a) => Ok(a.id.clone()),
            None => Ok(given.to_owned()),
        }
    }
}
