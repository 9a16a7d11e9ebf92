//! Who else deletes a customer's data when the CRM erases them: the
//! hand-off queue (tickets, threads, context packages) and the chat log,
//! each reached like any peer (this process's own address when it runs the
//! service, else its `remote.*` URL).

use std::future::Future;
use std::sync::Arc;

use parla_crm::erasure::{ErasurePeers, Forget};
use parla_proto::v1::chat_client::ChatClient;
use parla_proto::v1::handoff_client::HandoffClient;
use parla_proto::v1::{ForgetCustomerRequest, ForgetCustomerResponse};
use parla_proto::PeerChannel;

use crate::config::Config;
use crate::services::{lazy_channel, ServiceKind};

/// The stores the CRM tells after an erasure; those neither run here nor
/// configured are left out (they hold nothing of this deployment).
pub fn erasure_peers(config: &Config) -> anyhow::Result<ErasurePeers> {
    let mut peers = ErasurePeers::default();
    if let Some(channel) = lazy_channel(config, ServiceKind::Handoff)? {
        peers = peers.with("hand-off queue", forget_tickets(channel));
    }
    if let Some(channel) = lazy_channel(config, ServiceKind::Gateway)? {
        peers = peers.with("chat log", forget_chats(channel));
    }
    Ok(peers)
}

fn forget_tickets(channel: PeerChannel) -> Forget {
    forget_via(channel, |channel, request| async move {
        HandoffClient::new(channel).forget_customer(request).await
    })
}

fn forget_chats(channel: PeerChannel) -> Forget {
    forget_via(channel, |channel, request| async move {
        ChatClient::new(channel).forget_customer(request).await
    })
}

/// A [`Forget`] that sends `ForgetCustomer` through `call` on `channel` and
/// reports the store's summary, or its status message.
fn forget_via<F, Fut>(channel: PeerChannel, call: F) -> Forget
where
    F: Fn(PeerChannel, ForgetCustomerRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<ForgetCustomerResponse>, tonic::Status>>
        + Send
        + 'static,
{
    Arc::new(move |customer_id| {
        let reply = call(channel.clone(), ForgetCustomerRequest { customer_id });
        Box::pin(async move {
            reply
                .await
                .map(|r| r.into_inner().summary)
                .map_err(|s| s.message().to_owned())
        })
    })
}
