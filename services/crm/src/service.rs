//! The gRPC face of the customer record (`parla.v1.Crm`): a thin adapter
//! that converts messages, runs the blocking [`Store`] call on tokio's
//! blocking pool and turns [`CrmError`] into a status once, here.
//!
//! The service answers UNAVAILABLE until its store is installed (the
//! server's load step opens the database and runs the migrations).

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parla_proto::v1 as pb;
use pb::crm_server::{Crm, CrmServer};
use tonic::{Request, Response, Status};

use crate::convert;
use crate::erasure::ErasurePeers;
use crate::error::CrmError;
use crate::model::{Append, NewReturn, ProductQuery};
use crate::store::Store;

/// Where the store appears once it is open.
pub type StoreSlot = Arc<OnceLock<Arc<dyn Store>>>;

/// The `parla.v1.Crm` service.
#[derive(Clone)]
pub struct CrmService {
    store: StoreSlot,
    recent_interactions: usize,
    peers: ErasurePeers,
}

impl CrmService {
    /// A service whose store arrives later through [`CrmService::slot`];
    /// `recent_interactions` is the context's default conversation count.
    pub fn pending(recent_interactions: usize) -> Self {
        Self {
            store: Arc::new(OnceLock::new()),
            recent_interactions: recent_interactions.max(1),
            peers: ErasurePeers::default(),
        }
    }

    /// Stores told to delete a customer's data after the CRM erases them.
    pub fn with_erasure_peers(mut self, peers: ErasurePeers) -> Self {
        self.peers = peers;
        self
    }

    /// A service over an open store.
    pub fn with_store(store: Arc<dyn Store>, recent_interactions: usize) -> Self {
        let service = Self::pending(recent_interactions);
        let _ = service.store.set(store);
        service
    }

    /// The slot to fill with the open store.
    pub fn slot(&self) -> StoreSlot {
        self.store.clone()
    }

    /// The tonic server for this service.
    pub fn into_server(self) -> CrmServer<Self> {
        CrmServer::new(self)
    }

    /// Runs a store call on the blocking pool and maps its error.
    async fn call<T, F>(&self, rpc: &'static str, f: F) -> Result<T, Status>
    where
        F: FnOnce(&dyn Store) -> crate::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.get().cloned().ok_or_else(|| {
            Status::unavailable(
                "the customer record is still opening its database; retry in a few seconds",
            )
        })?;
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| CrmError::Internal(format!("store task failed: {e}")))
            .and_then(|r| r);
        let micros = started.elapsed().as_micros() as u64;
        match result {
            Ok(v) => {
                tracing::debug!(rpc, micros, "crm call");
                Ok(v)
            }
            Err(e) => {
                let status = to_status(&e);
                match status.code() {
                    tonic::Code::Internal => {
                        tracing::error!(rpc, micros, error = %e, "crm call failed")
                    }
                    tonic::Code::Unavailable => {
                        tracing::warn!(rpc, micros, error = %e, "crm call failed")
                    }
                    code => {
                        tracing::info!(rpc, micros, code = ?code, error = %e, "crm call rejected")
                    }
                }
                Err(status)
            }
        }
    }
}

/// The status a client sees for an error; UNAVAILABLE carries a retry
/// hint (`grpc-retry-pushback-ms`) for clients with a retry policy.
pub fn to_status(e: &CrmError) -> Status {
    let message = e.to_string();
    match e {
        CrmError::NotFound { .. } => Status::not_found(message),
        CrmError::InvalidArgument { .. } => Status::invalid_argument(message),
        CrmError::FailedPrecondition(_) => Status::failed_precondition(message),
        CrmError::AlreadyExists(_) => Status::already_exists(message),
        CrmError::Unavailable(_) => {
            let mut status = Status::unavailable(message);
            status.metadata_mut().insert(
                "grpc-retry-pushback-ms",
                tonic::metadata::MetadataValue::from_static("1000"),
            );
            status
        }
        CrmError::Config { .. } => Status::failed_precondition(message),
        CrmError::Internal(_) => Status::internal(message),
    }
}

fn bad(e: CrmError) -> Status {
    tracing::info!(error = %e, "crm request rejected");
    to_status(&e)
}

#[tonic::async_trait]
impl Crm for CrmService {
    async fn identify_customer(
        &self,
        request: Request<pb::IdentifyCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let hint = convert::hint_from(request.get_ref().hint.as_ref()).map_err(bad)?;
        let customer = self
            .call("identify_customer", move |s| s.identify(&hint))
            .await?;
        Ok(Response::new(convert::customer_to(&customer)))
    }

    async fn get_customer_context(
        &self,
        request: Request<pb::GetCustomerContextRequest>,
    ) -> Result<Response<pb::CustomerContext>, Status> {
        let r = request.into_inner();
        let n = match r.recent_interactions {
            0 => self.recent_interactions,
            n => n as usize,
        };
        let context = self
            .call("get_customer_context", move |s| {
                s.context(&r.customer_id, n)
            })
            .await?;
        Ok(Response::new(convert::context_to(&context)))
    }

    async fn list_orders(
        &self,
        request: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<pb::ListOrdersResponse>, Status> {
        let r = request.into_inner();
        let orders = self
            .call("list_orders", move |s| {
                s.list_orders(&r.customer_id, &r.query, r.limit as usize)
            })
            .await?;
        Ok(Response::new(pb::ListOrdersResponse {
            orders: orders.iter().map(convert::order_to).collect(),
        }))
    }

    async fn search_products(
        &self,
        request: Request<pb::SearchProductsRequest>,
    ) -> Result<Response<pb::SearchProductsResponse>, Status> {
        let r = request.into_inner();
        let query = ProductQuery {
            category: r.category,
            attributes: r.attributes.into_iter().collect(),
            size: r.size,
        };
        let products = self
            .call("search_products", move |s| s.search_products(&query))
            .await?;
        Ok(Response::new(pb::SearchProductsResponse {
            products: products.iter().map(convert::product_to).collect(),
        }))
    }

    async fn create_return(
        &self,
        request: Request<pb::CreateReturnRequest>,
    ) -> Result<Response<pb::Return>, Status> {
        let r = request.into_inner();
        let new = NewReturn {
            order_id: r.order_id,
            line_ids: r.line_ids,
            reason: r.reason,
            resolution: r.resolution,
            exchange_sku: r.exchange_sku,
            exchange_size: r.exchange_size,
            conversation_id: r.conversation_id,
        };
        let ret = self
            .call("create_return", move |s| s.create_return(&new))
            .await?;
        Ok(Response::new(convert::return_to(&ret)))
    }

    async fn update_return(
        &self,
        request: Request<pb::UpdateReturnRequest>,
    ) -> Result<Response<pb::Return>, Status> {
        let r = request.into_inner();
        let ret = self
            .call("update_return", move |s| {
                s.update_return(&r.rma_id, &r.status)
            })
            .await?;
        Ok(Response::new(convert::return_to(&ret)))
    }

    async fn append_interaction(
        &self,
        request: Request<pb::AppendInteractionRequest>,
    ) -> Result<Response<pb::AppendInteractionResponse>, Status> {
        let r = request.into_inner();
        let turn = r
            .turn
            .as_ref()
            .map(convert::turn_from)
            .ok_or_else(|| bad(CrmError::invalid("turn", "is missing")))?;
        let append = Append {
            conversation_id: r.conversation_id,
            customer_id: Some(r.customer_id).filter(|c| !c.is_empty()),
            channel: convert::channel_from(r.channel),
            turn,
            summary: r.summary,
            outcome: r.outcome,
        };
        let position = self
            .call("append_interaction", move |s| s.append(&append))
            .await?;
        Ok(Response::new(pb::AppendInteractionResponse { position }))
    }

    async fn export_customer(
        &self,
        request: Request<pb::ExportCustomerRequest>,
    ) -> Result<Response<pb::ExportCustomerResponse>, Status> {
        let r = request.into_inner();
        let export = self
            .call("export_customer", move |s| {
                s.export(&r.customer_id, &r.requested_by)
            })
            .await?;
        Ok(Response::new(pb::ExportCustomerResponse {
            json: export.json,
            audit_id: export.audit_id,
        }))
    }

    async fn erase_customer(
        &self,
        request: Request<pb::EraseCustomerRequest>,
    ) -> Result<Response<pb::EraseCustomerResponse>, Status> {
        let r = request.into_inner();
        let customer_id = r.customer_id.clone();
        let audit_id = self
            .call("erase_customer", move |s| {
                s.erase(&r.customer_id, &r.requested_by)
            })
            .await?;
        let also_erased = self.peers.forget(&customer_id).await.map_err(|(store, reason)| {
            tracing::warn!(customer = %customer_id, store, reason = %reason, "erasure incomplete");
            Status::unavailable(format!(
                "customer {customer_id} is erased from the CRM (audit {audit_id}), but the \
                 {store} could not delete their data: {reason}; call EraseCustomer again"
            ))
        })?;
        tracing::info!(customer = %customer_id, stores = also_erased.len(), "customer erased");
        Ok(Response::new(pb::EraseCustomerResponse {
            audit_id,
            also_erased,
        }))
    }

    async fn upsert_customer(
        &self,
        request: Request<pb::UpsertCustomerRequest>,
    ) -> Result<Response<pb::Customer>, Status> {
        let r = request.into_inner();
        let customer = r
            .customer
            .as_ref()
            .ok_or_else(|| bad(CrmError::invalid("customer", "is missing")))
            .and_then(|c| convert::customer_from(c).map_err(bad))?;
        let consents = r
            .consents
            .iter()
            .map(convert::consent_from)
            .collect::<crate::Result<Vec<_>>>()
            .map_err(bad)?;
        let stored = self
            .call("upsert_customer", move |s| {
                let stored = s.upsert_customer(&customer)?;
                for consent in &consents {
                    s.set_consent(&stored.id, consent)?;
                }
                Ok(stored)
            })
            .await?;
        Ok(Response::new(convert::customer_to(&stored)))
    }

    async fn upsert_product(
        &self,
        request: Request<pb::Product>,
    ) -> Result<Response<pb::Product>, Status> {
        let product = convert::product_from(request.get_ref());
        let stored = self
            .call("upsert_product", move |s| s.upsert_product(&product))
            .await?;
        Ok(Response::new(convert::product_to(&stored)))
    }

    async fn upsert_order(
        &self,
        request: Request<pb::Order>,
    ) -> Result<Response<pb::Order>, Status> {
        let order = convert::order_from(request.get_ref());
        let stored = self
            .call("upsert_order", move |s| s.upsert_order(&order))
            .await?;
        Ok(Response::new(convert::order_to(&stored)))
    }

    async fn get_interaction(
        &self,
        request: Request<pb::GetInteractionRequest>,
    ) -> Result<Response<pb::Interaction>, Status> {
        let id = request.into_inner().conversation_id;
        let interaction = self
            .call("get_interaction", move |s| s.interaction(&id))
            .await?;
        Ok(Response::new(convert::interaction_to(&interaction)))
    }

    async fn list_audit_records(
        &self,
        request: Request<pb::ListAuditRecordsRequest>,
    ) -> Result<Response<pb::ListAuditRecordsResponse>, Status> {
        let id = request.into_inner().customer_id;
        let records = self
            .call("list_audit_records", move |s| s.audit_log(&id))
            .await?;
        Ok(Response::new(pb::ListAuditRecordsResponse {
            records: records.iter().map(convert::audit_to).collect(),
        }))
    }
}
