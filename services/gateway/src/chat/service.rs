//! The gRPC face of chats: identity, limits and ownership checks, then the
//! store and the session logic.

use std::pin::Pin;
use std::sync::Arc;

use parla_proto::v1::chat_event::Event;
use parla_proto::v1::chat_server::Chat;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::v1::customer_hint::Hint;
use parla_proto::v1::{
    ChatEvent, ChatEventsRequest, ChatNotice, ChatSendRequest, ChatSendResponse, ChatVerifyRequest,
    ChatVerifyResponse, CustomerHint, ForgetCustomerRequest, ForgetCustomerResponse,
    IdentifyCustomerRequest, ListOrdersRequest,
};
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::access::{self, Presented};
use super::auth::{Claims, ANONYMOUS_PREFIX};
use super::store::{ChatStore, ChatStoreError, Conversation};
use super::{session, ChatHub, ChatService};

type EventStream = Pin<Box<dyn Stream<Item = Result<ChatEvent, Status>> + Send>>;

pub(super) fn store_status(e: ChatStoreError) -> Status {
    tracing::error!(error = %e, "chat store failed");
    Status::unavailable(format!("{e}; retry shortly"))
}

pub(super) async fn blocking<T: Send + 'static>(
    store: &Arc<ChatStore>,
    f: impl FnOnce(&ChatStore) -> Result<T, ChatStoreError> + Send + 'static,
) -> Result<T, Status> {
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| Status::internal(format!("chat store task failed: {e}")))?
        .map_err(store_status)
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    let _ = getrandom::fill(&mut b);
    format!(
        "{prefix}{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

impl ChatHub {
    pub(super) fn store(&self) -> Result<&Arc<ChatStore>, Status> {
        self.store
            .get()
            .ok_or_else(|| Status::unavailable("chat is still opening its database; retry shortly"))
    }

    fn claims(&self, token: &str) -> Result<Option<Claims>, Status> {
        if token.trim().is_empty() {
            return Ok(None);
        }
        self.keys.verify(token).map(Some).map_err(|e| {
            tracing::info!(error = %e, "chat token refused");
            Status::unauthenticated(e.to_string())
        })
    }

    /// The checked tokens of a request (`customer_token`, `conversation_token`).
    fn presented(
        &self,
        customer_token: &str,
        conversation_token: &str,
    ) -> Result<Presented, Status> {
        Presented::sort(
            self.claims(customer_token)?,
            self.claims(conversation_token)?,
        )
        .map_err(|e| Status::invalid_argument(e.to_string()))
    }

    /// Checks that the request's tokens may use conversation `conv`.
    fn authorize(&self, presented: &Presented, conv: &Conversation) -> Result<(), Status> {
        presented.check(conv).map_err(|denied| {
            tracing::warn!(conversation_id = %conv.id, reason = ?denied, "chat access to a conversation refused");
            match denied {
                access::Denied::NoToken => Status::unauthenticated(denied.to_string()),
                _ => Status::permission_denied(denied.to_string()),
            }
        })
    }

    /// A conversation token for `conv`, its owner established by the shop's sign-in when the
    /// request carried a shop token, else by a verification in the chat.
    fn conversation_token(&self, conv: &Conversation, presented: &Presented) -> String {
        self.keys.conversation_token(
            &conv.owner,
            &conv.id,
            access::via(conv, presented.shop.is_none()),
            self.config.conversation_token_ttl_secs,
        )
    }

    fn limit(&self, key: &str, per_minute: u32, what: &str) -> Result<(), Status> {
        if self.limits.allow(key, per_minute) {
            Ok(())
        } else {
            tracing::info!(limit = what, "chat rate limit hit");
            Err(Status::resource_exhausted(format!(
                "too many messages ({what}: at most {per_minute} a minute); wait a few seconds"
            )))
        }
    }

    async fn conversation(&self, id: &str) -> Result<Conversation, Status> {
        let id_owned = id.to_owned();
        blocking(self.store()?, move |s| s.get(&id_owned))
            .await?
            .ok_or_else(|| Status::not_found(format!("no chat conversation with id {id:?}")))
    }
}

fn ip_of<T>(request: &Request<T>) -> String {
    request
        .remote_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[tonic::async_trait]
impl Chat for ChatService {
    async fn send(
        &self,
        request: Request<ChatSendRequest>,
    ) -> Result<Response<ChatSendResponse>, Status> {
        let hub = &self.hub;
        let ip = ip_of(&request);
        let r = request.into_inner();
        let store = hub.store()?;
        let text = r.text.trim().to_owned();
        if text.is_empty() {
            return Err(Status::invalid_argument("text is empty"));
        }
        // The message goes back to the customer's screen: it says what to do, and the setting
        // behind it is in the log line only.
        if r.text.len() > hub.max_message_bytes {
            tracing::info!(
                bytes = r.text.len(),
                limit = hub.max_message_bytes,
                "oversized chat message refused (gateway.max_message_bytes)"
            );
            return Err(Status::invalid_argument(format!(
                "the message is too long ({} bytes; at most {}); please shorten it or send it in parts",
                r.text.len(),
                hub.max_message_bytes
            )));
        }
        let chars = text.chars().count();
        if chars > super::MAX_MESSAGE_CHARS {
            tracing::info!(chars, "oversized chat message refused");
            return Err(Status::invalid_argument(format!(
                "the message has {chars} characters; at most {} fit in one message; please shorten it or send it in parts",
                super::MAX_MESSAGE_CHARS
            )));
        }
        if r.client_message_id.len() > 128 || r.language.len() > 35 {
            return Err(Status::invalid_argument(
                "client_message_id (≤ 128 bytes) or language (≤ 35 bytes) too long",
            ));
        }
        let presented = hub.presented(&r.customer_token, &r.conversation_token)?;
        hub.limit(
            &format!("ip:{ip}"),
            hub.config.ip_messages_per_minute,
            "per IP address",
        )?;
        let conv = if r.conversation_id.trim().is_empty() {
            let owner = match presented.new_owner() {
                Some(customer) => customer.to_owned(),
                None => random_id(ANONYMOUS_PREFIX),
            };
            let conv = Conversation {
                id: random_id("chat-"),
                customer_id: if owner.starts_with(ANONYMOUS_PREFIX) {
                    String::new()
                } else {
                    owner.clone()
                },
                owner,
                language: r.language.clone(),
                ticket_id: String::new(),
                mode: "bot".into(),
            };
            let c = conv.clone();
            blocking(store, move |s| s.create(&c)).await?;
            tracing::info!(conversation_id = %conv.id, anonymous = conv.customer_id.is_empty(), "chat started");
            if !conv.customer_id.is_empty() {
                session::recall_other_channels(Arc::clone(hub), conv.clone()).await;
            }
            conv
        } else {
            let conv = hub.conversation(&r.conversation_id).await?;
            hub.authorize(&presented, &conv)?;
            conv
        };
        let per_minute = if conv.customer_id.is_empty() {
            hub.config.anonymous_messages_per_minute
        } else {
            hub.config.customer_messages_per_minute
        };
        hub.limit(&format!("owner:{}", conv.owner), per_minute, "per customer")?;
        let token = hub.conversation_token(&conv, &presented);
        if !r.client_message_id.is_empty() {
            let (cid, mid) = (conv.id.clone(), r.client_message_id.clone());
            if let Some(event_id) = blocking(store, move |s| s.client_message(&cid, &mid)).await? {
                return Ok(Response::new(ChatSendResponse {
                    conversation_id: conv.id,
                    event_id,
                    conversation_token: token,
                }));
            }
        }
        let echo = ChatEvent {
            event: Some(Event::CustomerMessage(text.clone())),
            ..ChatEvent::default()
        };
        let (cid, mid) = (conv.id.clone(), r.client_message_id.clone());
        let stored = blocking(store, move |s| s.append(&cid, echo, Some(&mid))).await?;
        let language = if r.language.is_empty() {
            conv.language.clone()
        } else {
            r.language.clone()
        };
        session::route_message(Arc::clone(hub), conv.clone(), text, language).await;
        Ok(Response::new(ChatSendResponse {
            conversation_id: conv.id,
            event_id: stored.id,
            conversation_token: token,
        }))
    }

    type EventsStream = EventStream;

    async fn events(
        &self,
        request: Request<ChatEventsRequest>,
    ) -> Result<Response<Self::EventsStream>, Status> {
        let hub = &self.hub;
        let r = request.into_inner();
        let store = Arc::clone(hub.store()?);
        let presented = hub.presented(&r.customer_token, &r.conversation_token)?;
        let conv = hub.conversation(&r.conversation_id).await?;
        hub.authorize(&presented, &conv)?;
        // Subscribe before reading the backlog: nothing falls in between.
        let live = store.subscribe(&conv.id);
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(stream_events(store, conv.id, r.after_event_id, live, tx));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn forget_customer(
        &self,
        request: Request<ForgetCustomerRequest>,
    ) -> Result<Response<ForgetCustomerResponse>, Status> {
        let customer_id = parla_proto::forget::customer_id(request.into_inner())?;
        let store = self.hub.store()?;
        let removed = blocking(store, move |s| s.forget_customer(&customer_id)).await?;
        tracing::info!(removed, "customer's chat conversations deleted");
        Ok(Response::new(parla_proto::forget::response(
            removed,
            "conversation",
        )))
    }

    async fn verify(
        &self,
        request: Request<ChatVerifyRequest>,
    ) -> Result<Response<ChatVerifyResponse>, Status> {
        let hub = &self.hub;
        let ip = ip_of(&request);
        let r = request.into_inner();
        let store = hub.store()?;
        let presented = hub.presented(&r.customer_token, &r.conversation_token)?;
        let mut conv = hub.conversation(&r.conversation_id).await?;
        hub.authorize(&presented, &conv)?;
        hub.limit(
            &format!("verify:{ip}"),
            5,
            "verification attempts per IP address",
        )?;
        let (order_id, email) = (r.order_id.trim(), r.email.trim());
        if order_id.is_empty() || email.is_empty() || order_id.len() > 64 || email.len() > 254 {
            return Err(Status::invalid_argument(
                "order_id and email are both needed",
            ));
        }
        let crm = hub.peers.crm.clone().ok_or_else(|| {
            Status::unavailable("the CRM is not configured; verification is unavailable")
        })?;
        let mut crm = CrmClient::new(crm);
        let refused =
            || Status::permission_denied("this order id and e-mail do not match a customer");
        let customer = match crm
            .identify_customer(IdentifyCustomerRequest {
                hint: Some(CustomerHint {
                    hint: Some(Hint::Email(email.to_owned())),
                }),
            })
            .await
        {
            Ok(c) => c.into_inner(),
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::InvalidArgument
                ) =>
            {
                return Err(refused())
            }
            Err(s) => {
                return Err(Status::unavailable(format!(
                    "the CRM did not answer: {}",
                    s.message()
                )))
            }
        };
        let orders = crm
            .list_orders(ListOrdersRequest {
                customer_id: customer.id.clone(),
                query: order_id.to_owned(),
                limit: 20,
            })
            .await
            .map_err(|s| Status::unavailable(format!("the CRM did not answer: {}", s.message())))?
            .into_inner();
        if !orders
            .orders
            .iter()
            .any(|o| o.id.eq_ignore_ascii_case(order_id))
        {
            tracing::info!(conversation_id = %conv.id, "chat verification refused");
            return Err(refused());
        }
        conv.owner = customer.id.clone();
        conv.customer_id = customer.id.clone();
        let c = conv.clone();
        blocking(store, move |s| s.update(&c)).await?;
        hub.drop_session(&conv.id);
        let notice = ChatEvent {
            event: Some(Event::Notice(ChatNotice {
                kind: "verified".into(),
                text: session::text(&conv.language, "verified"),
            })),
            ..ChatEvent::default()
        };
        let cid = conv.id.clone();
        blocking(store, move |s| s.append(&cid, notice, None)).await?;
        tracing::info!(conversation_id = %conv.id, "chat customer verified");
        Ok(Response::new(ChatVerifyResponse {
            conversation_token: hub.keys.conversation_token(
                &conv.owner,
                &conv.id,
                access::VIA_VERIFIED,
                hub.config.conversation_token_ttl_secs,
            ),
            customer_name: customer.name,
        }))
    }
}

/// Sends stored events after `after`, then live ones, each exactly once
/// and in id order; a gap (a lagging subscriber) is filled from the store.
async fn stream_events(
    store: Arc<ChatStore>,
    conversation_id: String,
    after: u64,
    mut live: broadcast::Receiver<ChatEvent>,
    tx: mpsc::Sender<Result<ChatEvent, Status>>,
) {
    let mut last = after;
    loop {
        // Backlog (first time, and after any gap).
        loop {
            let (cid, from) = (conversation_id.clone(), last);
            let batch = match blocking(&store, move |s| s.after(&cid, from, 500)).await {
                Ok(b) => b,
                Err(status) => {
                    let _ = tx.send(Err(status)).await;
                    return;
                }
            };
            let n = batch.len();
            for event in batch {
                last = event.id;
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            if n < 500 {
                break;
            }
        }
        loop {
            let received = tokio::select! {
                r = live.recv() => r,
                () = tx.closed() => return,
            };
            match received {
                Ok(event) if event.id <= last => continue,
                Ok(event) if event.id == last + 1 => {
                    last = event.id;
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                // A gap or a lag: read what was missed from the store.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
