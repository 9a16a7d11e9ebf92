//! The right to erasure beyond the customer record: other stores that hold
//! a customer's conversations (the hand-off queue, the chat log) are told
//! to delete them once the CRM has erased the customer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// What a store answers: a line for the erasure's report, or why it failed.
pub type ForgetResult = Result<String, String>;

/// Deletes one customer's data in another store, given the customer id.
pub type Forget =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = ForgetResult> + Send>> + Send + Sync>;

/// The stores to tell, each with a name for messages ("hand-off queue").
#[derive(Clone, Default)]
pub struct ErasurePeers {
    peers: Vec<(&'static str, Forget)>,
}

impl ErasurePeers {
    /// Adds a store to tell.
    pub fn with(mut self, name: &'static str, forget: Forget) -> Self {
        self.peers.push((name, forget));
        self
    }

    /// Tells every store in turn; the report lines, or the first failure
    /// as `(store name, reason)` after the stores before it have answered.
    pub async fn forget(&self, customer_id: &str) -> Result<Vec<String>, (&'static str, String)> {
        let mut report = Vec::with_capacity(self.peers.len());
        for (name, forget) in &self.peers {
            match forget(customer_id.to_owned()).await {
                Ok(line) => report.push(format!("{name}: {line}")),
                Err(reason) => return Err((name, reason)),
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(answer: ForgetResult) -> Forget {
        Arc::new(move |_id| {
            let answer = answer.clone();
            Box::pin(async move { answer })
        })
    }

    #[tokio::test]
    async fn reports_every_store_or_the_first_failure() {
        let peers = ErasurePeers::default()
            .with("queue", peer(Ok("2 tickets".into())))
            .with("chat", peer(Ok("1 conversation".into())));
        assert_eq!(
            peers.forget("C1").await,
            Ok(vec![
                "queue: 2 tickets".into(),
                "chat: 1 conversation".into()
            ])
        );
        let failing = peers.with("mail", peer(Err("unreachable".into())));
        assert_eq!(
            failing.forget("C1").await,
            Err(("mail", "unreachable".into()))
        );
    }
}
