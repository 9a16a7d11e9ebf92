//! The shop's catalogue as the dialogue needs it: product names for the grounding check of a
//! model's wording (naming a catalogue product that is not a fact of the turn is a violation),
//! and names with prices to answer "how much is the Ridge one?". Read from the CRM
//! (`SearchProducts`, the whole catalogue) at most once a minute; when the CRM does not answer,
//! the last products read are kept.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parla_proto::v1 as pb;
use parla_proto::v1::crm_client::CrmClient;
use parla_proto::PeerChannel;
use tokio::sync::Mutex;

use crate::products::Priced;

/// How long products read from the CRM are used before they are read again.
const FRESH_FOR: Duration = Duration::from_secs(60);

/// The catalogue's products, shared by the service's conversations.
#[derive(Debug, Default)]
pub struct Catalogue {
    cached: Mutex<Option<(Instant, Arc<Vec<Priced>>)>>,
}

impl Catalogue {
    /// The product names, read again from `crm` when older than a minute.
    pub async fn names(&self, crm: Option<&PeerChannel>) -> Arc<Vec<String>> {
        let products = self.products(crm).await;
        Arc::new(products.iter().map(|p| p.name.clone()).collect())
    }

    /// The products with their prices, read again from `crm` when older than a minute.
    pub async fn products(&self, crm: Option<&PeerChannel>) -> Arc<Vec<Priced>> {
        let mut cached = self.cached.lock().await;
        if let Some((read, products)) = cached.as_ref() {
            if read.elapsed() < FRESH_FOR {
                return Arc::clone(products);
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
                let products: Arc<Vec<Priced>> = Arc::new(
                    r.into_inner()
                        .products
                        .into_iter()
                        .map(|p| Priced {
                            name: p.name,
                            price_minor: p.price_minor,
                            currency: p.currency,
                        })
                        .collect(),
                );
                *cached = Some((Instant::now(), Arc::clone(&products)));
                products
            }
            Err(s) => {
                tracing::warn!(error = %s.message(), "catalogue not read from the CRM; only the turn's own products are known");
                cached
                    .as_ref()
                    .map(|(_, p)| Arc::clone(p))
                    .unwrap_or_default()
            }
        }
    }
}
