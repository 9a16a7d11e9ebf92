//! Sensitive topics that always go to a person: legal threats, bereavement, fraud, health and
//! safety. Two readers: keyword patterns in English and Italian (matched on accent-folded text at
//! word starts; near-certain when they match), and a classifier trained at load on Parla's own
//! topic-labelled lines (`data/sensitive.txt`), which finds the topic by how people say it
//! ("there's a payment from you I never made", "since we lost mum") and tells near misses
//! ("what do you charge for delivery", "to die for") apart.

mod model;

pub use model::{builtin as builtin_lines, SensitiveExample, SensitiveModel};

use std::sync::OnceLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A topic a machine should not handle alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveTopic {
    /// Lawyers, courts, legal action.
    Legal,
    /// A death in the family.
    Bereavement,
    /// Fraud, stolen cards, unauthorised charges.
    Fraud,
    /// Injury, fire, danger from a product.
    Safety,
    /// An injury, allergic reaction or illness caused or made worse by a product.
    Health,
}

impl SensitiveTopic {
    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SensitiveTopic::Legal => "legal",
            SensitiveTopic::Bereavement => "bereavement",
            SensitiveTopic::Fraud => "fraud",
            SensitiveTopic::Safety => "safety",
            SensitiveTopic::Health => "health",
        }
    }

    /// Every topic, in the classifier's class order (after `none`).
    pub const ALL: [SensitiveTopic; 5] = [
        SensitiveTopic::Fraud,
        SensitiveTopic::Bereavement,
        SensitiveTopic::Health,
        SensitiveTopic::Legal,
        SensitiveTopic::Safety,
    ];

    /// Parses a snake_case name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

const LEGAL: &str = r"\b(?:lawyer|solicitor|attorney|sue you|suing|take you to court|legal action|lawsuit|small claims|trading standards|ombudsman|avvocat\w*|vie legali|azione legale|causa legale|fare causa|vi faccio causa|denuncia\w*|denunce\w*|tribunale|giudice di pace|querela\w*|carabinieri|codacons|associazione consumatori)\b";
const BEREAVEMENT: &str = r"\b(?:passed away|(?:husband|wife|mother|father|mum|mom|dad|son|daughter|partner|brother|sister|grandmother|grandfather|grandma|grandad) (?:has |had |just )?died|death of|deceased|funeral|bereavement|widow\w*|lost my (?:husband|wife|mother|father|mum|mom|dad|son|daughter)|e morto|e morta|sono morti|scomparso|scomparsa|deceduto|deceduta|decesso|funerale|lutto|vedov\w*|ho perso (?:mio|mia) (?:marito|moglie|madre|padre|figlio|figlia|mamma|papa))\b";
const FRAUD: &str = r"\b(?:fraud\w*|scam\w*|stolen card|card (?:was|has been) stolen|identity theft|unauthori[sz]ed (?:charge|payment|transaction)s?|didn't make this (?:purchase|order)|did not make this (?:purchase|order)|hacked|phishing|truff\w*|frode|fraudolent\w*|carta rubata|mi hanno rubato la carta|furto d'identita|furto di identita|addebit\w* non autorizzat\w*|non ho (?:fatto|effettuato) (?:io )?(?:questo|quest') ?(?:ordine|acquisto)|account (?:violato|hackerato)|clonat\w*)\b";
const SAFETY: &str = r"\b(?:caught fire|on fire|burst into flames|burn(?:ed|t) (?:me|my|him|her)|electric shock|got a shock|injur\w*|choking|chok(?:ed|es) on|allergic reaction|rash from|cut (?:myself|my)|exploded|smoke came|poison\w*|preso fuoco|andato a fuoco|incendi\w*|ustion\w*|scossa|mi sono ferit\w*|si e ferit\w*|ferit[oa]|soffoc\w*|reazione allergica|esplos\w*|intossica\w*|pericolos\w*)\b";

/// The first sensitive topic found in `folded` ([`crate::text::fold`]ed) text.
pub fn detect(folded: &str) -> Option<SensitiveTopic> {
    static RES: OnceLock<Vec<(SensitiveTopic, Regex)>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        [
            (SensitiveTopic::Bereavement, BEREAVEMENT),
            (SensitiveTopic::Safety, SAFETY),
            (SensitiveTopic::Fraud, FRAUD),
            (SensitiveTopic::Legal, LEGAL),
        ]
        .into_iter()
        .map(|(t, p)| {
            (
                t,
                Regex::new(p).unwrap_or_else(|e| panic!("bad topic pattern: {e}")),
            )
        })
        .collect()
    });
    res.iter()
        .find(|(_, r)| r.is_match(folded))
        .map(|(t, _)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::fold;

    #[test]
    fn topics_in_both_languages() {
        let cases = [
            (
                "My husband passed away last month",
                Some(SensitiveTopic::Bereavement),
            ),
            (
                "mia madre è morta la settimana scorsa",
                Some(SensitiveTopic::Bereavement),
            ),
            ("I'll be contacting my lawyer", Some(SensitiveTopic::Legal)),
            (
                "vi faccio causa, chiamo l'avvocato",
                Some(SensitiveTopic::Legal),
            ),
            (
                "there's an unauthorised charge on my card",
                Some(SensitiveTopic::Fraud),
            ),
            ("è una truffa", Some(SensitiveTopic::Fraud)),
            ("the heater caught fire", Some(SensitiveTopic::Safety)),
            ("la lampada ha preso fuoco", Some(SensitiveTopic::Safety)),
            ("the shoes hurt my feet, I want to return them", None),
            ("this jacket is dead comfy", None),
            ("dov'è il mio ordine", None),
        ];
        for (t, want) in cases {
            assert_eq!(detect(&fold(t)), want, "{t}");
        }
    }
}
