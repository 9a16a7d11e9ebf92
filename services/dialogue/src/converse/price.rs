//! "How much is the Ridge one?": a question about a catalogue product's price is answered from
//! the catalogue, in the middle of a flow too — the price comes first, then the flow's pending
//! question again — so a return is not abandoned for a recommendation nobody asked for.

use super::{ConversationState, DialogueService, TurnOutcome};
use crate::turn::facts::Vars;
use crate::{products, Channel, Engine, Intent, RenderRequest};

impl DialogueService {
    /// Answers a price question of the turn, when the customer names a catalogue product.
    /// Returns whether it did (the flows then leave the turn alone unless one is waiting).
    pub(super) async fn answer_price(
        &self,
        engine: &Engine,
        state: &ConversationState,
        text: &str,
        o: &mut TurnOutcome,
    ) -> bool {
        if o.decision.handoff
            || o.analysis.injection
            || o.step == "handoff_waiting"
            || !products::asks_price(text)
            || matches!(o.analysis.intent, Intent::Human | Intent::Goodbye)
        {
            return false;
        }
        let catalogue = self.catalogue.products(self.crm.as_ref()).await;
        let Some(product) = products::named(&catalogue, text) else {
            return false;
        };
        let vars = Vars::from([
            ("product".to_owned(), product.name.clone()),
            (
                "price".to_owned(),
                parla_flows::facts::amount(product.price_minor, &product.currency),
            ),
        ]);
        let Ok(answer) = engine.templates.render(&RenderRequest {
            lang: o.language,
            step: "product_price",
            tone: o.tone,
            channel: state.channel,
            vars: &vars,
            seed: u64::from(o.index),
            ssml: state.channel == Channel::Voice,
        }) else {
            return false;
        };
        if o.analysis.intent != Intent::ProductAdvice {
            o.analysis.runner_up = o.analysis.intent;
            o.analysis.intent = Intent::ProductAdvice;
        }
        o.reply = answer;
        o.step = "product_price";
        o.facts.extend(vars);
        true
    }
}
