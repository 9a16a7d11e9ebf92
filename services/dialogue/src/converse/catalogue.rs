//! Product names of the shop's catalogue, for the grounding check of a model's wording: naming a
//! catalogue product that is not a fact of the turn (one the model recommends on its own) is a
//! violation. Read from the CRM (`SearchProducts`, the whole catalogue) at most once a minute,
//! and only when a model words replies (templates name products from the facts alone). When the
//! CRM does not answer, the last names read are kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parla_proto::v1 as pb;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::PeerChannel;
use tokio::sync::Mutex;

/// How long names read from the CRM are used before they are read again.
const FRESH_FOR: Duration = Duration::from_secs(60);

/// The catalogue's product names, shared by the service's conversations.
#[derive(Debug, Default)]
pub struct Catalogue {
    cached: Mutex<Option<(Instant, Arc<Vec<String>>)>>,
}

impl Catalogue {
    /// The product names, read again from `crm` when older than a minute.
    pub async fn names(&self, crm: Option<&PeerChannel>) -> Arc<Vec<String>> {
        let mut cached = self.cached.lock().await;
        if let Some((read, names)) = cached.as_ref() {
            if read.elapsed() < FRESH_FOR {
                return Arc::clone(names);
            }
        }
        let Some(channel) = crm else {
            return Arc::default();
        };
        let found = CrmClient::new(channel.clone())
            .search_products(pb::SearchProductsRequest::default())
            .await;
        match found {
            Ok(r) => {
                let names: Arc<Vec<String>> = Arc::new(
                    r.into_inner()
                        .products
                        .into_iter()
                        .map(|p| p.name)
                        .collect(),
                );
                *cached = Some((Instant::now(), Arc::clone(&names)));
                names
            }
            Err(s) => {
                tracing::warn!(error = %s.message(), "catalogue not read from the CRM; the grounding check knows only the turn's products");
                cached
                    .as_ref()
                    .map(|(_, n)| Arc::clone(n))
                    .unwrap_or_default()
            }
        }
    }
}
