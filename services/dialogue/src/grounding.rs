//! Grounding check: every number, id, amount, date, temperature and known product name in a reply
//! must come from the facts of the turn (template variables, CRM context, flow results and the
//! wording the reply was built from). A reply that states anything else is rejected; the caller
//! then falls back to the template. Rejections are counted process-wide and logged.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::text::fold;

/// Replies rejected by the grounding check since the process started.
static REJECTED: AtomicU64 = AtomicU64::new(0);

/// Replies rejected by the grounding check since the process started (a metric).
pub fn rejected_total() -> u64 {
    REJECTED.load(Ordering::Relaxed)
}

/// Counts one rejected reply (and logs why, without the reply text).
pub fn count_rejection(conversation: &str, source: &str, violations: &[String]) {
    REJECTED.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        conversation,
        source,
        violations = %violations.join(", "),
        total = rejected_total(),
        "reply rejected by the grounding check"
    );
}

/// What a reply may state at one turn.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Normalised numeric values (amounts, days, years, temperatures) allowed in the reply.
    numbers: BTreeSet<String>,
    /// Normalised ids (letters and digits mixed, e.g. `A1042`, `RMA-77`) allowed in the reply.
    ids: BTreeSet<String>,
    /// Product names given as facts (folded).
    products: BTreeSet<String>,
    /// Product names Parla knows of (catalogue, orders), folded: naming one that is not a fact
    /// is a violation.
    known_products: BTreeSet<String>,
}

impl Facts {
    /// No facts at all: any number or id is a violation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows every number and id written in `text` (a fact value or the wording a reply was
    /// built from).
    pub fn allow_text(&mut self, text: &str) -> &mut Self {
        // A date written with a month name also allows the month's number ("15/11/2026").
        for word in text.split(|c: char| !c.is_alphabetic()) {
            if let Some(m) = month_number(&fold(word)) {
                self.numbers.insert(m.to_string());
            }
        }
        for claim in claims(text) {
            match claim {
                Claim::Number(n) => {
                    self.numbers.insert(n);
                }
                Claim::Id(id) => {
                    self.ids.insert(id);
                }
            }
        }
        self
    }

    /// Allows a product name (and the numbers in it).
    pub fn allow_product(&mut self, name: &str) -> &mut Self {
        let folded = fold(name.trim());
        if !folded.is_empty() {
            self.products.insert(folded.clone());
            self.known_products.insert(folded);
        }
        self.allow_text(name)
    }

    /// Declares a product name as known (so a reply naming it without it being a fact fails).
    pub fn know_product(&mut self, name: &str) -> &mut Self {
        let folded = fold(name.trim());
        if folded.chars().count() >= 3 {
            self.known_products.insert(folded);
        }
        self
    }

    /// Declares the catalogue's product names: those a fact value names (a flow's reply that
    /// offers the parka) are allowed, the others known, so a reply naming one fails.
    pub fn know_catalogue<'a>(
        &mut self,
        names: &[String],
        fact_values: impl IntoIterator<Item = &'a str>,
    ) -> &mut Self {
        let values: Vec<String> = fact_values.into_iter().map(fold).collect();
        for name in names {
            let folded = fold(name.trim());
            if folded.chars().count() < 3 {
                continue;
            }
            if values.iter().any(|v| contains_phrase(v, &folded)) {
                self.allow_product(name);
            } else {
                self.know_product(name);
            }
        }
        self
    }

    /// The facts' violations in `reply`: each number, id or product name that is not a fact.
    /// Empty when the reply is grounded. SSML markup is ignored.
    pub fn check(&self, reply: &str) -> Vec<String> {
        let plain = strip_markup(reply);
        let mut bad = Vec::new();
        for claim in claims(&plain) {
            let ok = match &claim {
                Claim::Number(n) => self.numbers.contains(n) || self.ids.contains(n),
                Claim::Id(id) => self.ids.contains(id),
            };
            if !ok {
                bad.push(match claim {
                    Claim::Number(n) => format!("number {n}"),
                    Claim::Id(id) => format!("id {id}"),
                });
            }
        }
        let folded = fold(&plain);
        for product in &self.known_products {
            if !self.products.contains(product) && contains_phrase(&folded, product) {
                bad.push(format!("product {product}"));
            }
        }
        bad
    }
}

/// The least share of the template's words a model's wording must keep: a draft much shorter
/// than the template has dropped what the customer was to be told (a lone "Lei", "Certainly!").
pub const MIN_KEPT_WORDS: f32 = 0.4;

impl Facts {
    /// What a model's `wording` of `template` left out: each number and id of the turn's fact
    /// values (`required`: order id, dates, amounts) that the template states, each product
    /// name of the facts that it names, the question it asks, and too few words. Literal wording of the template (an
    /// example order number) is not required. Empty when the wording keeps the template's
    /// content. Run after [`Facts::check`], which catches what a wording adds.
    pub fn dropped<'a>(
        &self,
        required: impl IntoIterator<Item = &'a str>,
        template: &str,
        wording: &str,
    ) -> Vec<String> {
        let template = strip_markup(template);
        let wording = strip_markup(wording);
        let stated = claims(&template);
        let said = claims(&wording);
        let mut missing = Vec::new();
        for claim in required.into_iter().flat_map(claims) {
            if stated.contains(&claim) && !said.contains(&claim) {
                let text = match claim {
                    Claim::Number(n) => format!("dropped number {n}"),
                    Claim::Id(id) => format!("dropped id {id}"),
                };
                if !missing.contains(&text) {
                    missing.push(text);
                }
            }
        }
        let (folded_template, folded_wording) = (fold(&template), fold(&wording));
        for product in &self.products {
            if contains_phrase(&folded_template, product)
                && !contains_phrase(&folded_wording, product)
            {
                missing.push(format!("dropped product {product}"));
            }
        }
        // A template that asks the customer something must still ask it.
        if template.contains('?') && !wording.contains('?') {
            missing.push("dropped the question".to_owned());
        }
        let words = |t: &str| t.split_whitespace().count();
        let (kept, of) = (words(&wording), words(&template));
        if (kept as f32) < MIN_KEPT_WORDS * of as f32 {
            missing.push(format!("dropped words: {kept} of {of}"));
        }
        missing
    }
}

/// Something checkable stated in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Claim {
    /// A number, normalised (`89.00` → `89`, `1.250,50` → `1250.5`).
    Number(String),
    /// An identifier mixing letters and digits, upper-cased without separators.
    Id(String),
}

/// Numbers and ids in `text`, including small numbers written as words (EN, IT).
fn claims(text: &str) -> Vec<Claim> {
    let mut out = Vec::new();
    for raw in text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | '"' | '«' | '»'))
    {
        let token = raw.trim_matches(|c: char| !c.is_alphanumeric());
        if token.is_empty() {
            continue;
        }
        let has_digit = token.chars().any(|c| c.is_ascii_digit());
        let has_alpha = token.chars().any(char::is_alphabetic);
        if has_digit && has_alpha {
            // "15°C", "89EUR", "3rd" are numbers with a unit; "A1042", "RMA-77" are ids.
            let digits_then_unit = token
                .find(|c: char| !c.is_ascii_digit() && c != '.' && c != ',')
                .is_some_and(|i| i > 0 && token[i..].chars().all(|c| !c.is_ascii_digit()));
            if digits_then_unit {
                let i = token
                    .find(|c: char| !c.is_ascii_digit() && c != '.' && c != ',')
                    .unwrap_or(token.len());
                if let Some(n) = normalise_number(&token[..i]) {
                    out.push(Claim::Number(n));
                }
            } else {
                out.push(Claim::Id(normalise_id(token)));
            }
        } else if has_digit {
            // Dates and times (15/11/2026, 2026-11-15, 10:30) are split into their numbers.
            if token.contains(['/', '-', ':']) {
                for part in token.split(['/', '-', ':']) {
                    if let Some(n) = normalise_number(part) {
                        out.push(Claim::Number(n));
                    }
                }
            } else if let Some(n) = normalise_number(token) {
                out.push(Claim::Number(n));
            }
        } else if let Some(n) = word_number(&token.to_lowercase()) {
            out.push(Claim::Number(n.to_string()));
        }
    }
    out
}

/// `A1042` / `rma-77` → `A1042` / `RMA77`.
fn normalise_id(token: &str) -> String {
    token
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_uppercase)
        .collect()
}

/// A numeric string in canonical form; `None` when it is not a number.
fn normalise_number(s: &str) -> Option<String> {
    let s = s.trim_matches(|c: char| c == '.' || c == ',');
    if s.is_empty()
        || !s
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ',')
    {
        return None;
    }
    // The last separator followed by one or two digits is decimal; others group thousands.
    let last_sep = s.rfind(['.', ',']);
    let (int_part, frac) = match last_sep {
        Some(i) if s.len() - i - 1 <= 2 => (&s[..i], &s[i + 1..]),
        _ => (s, ""),
    };
    let int: String = int_part.chars().filter(char::is_ascii_digit).collect();
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let frac = frac.trim_end_matches('0');
    Some(if frac.is_empty() {
        int.to_owned()
    } else {
        format!("{int}.{frac}")
    })
}

/// Small numbers written as words, in English and Italian.
fn word_number(w: &str) -> Option<u32> {
    use parla_text::{numbers::cardinal_word, Lang};
    // "one"/"uno" and "a" are too common as articles to count as claims.
    if matches!(w, "one" | "uno" | "zero") {
        return None;
    }
    let value = match w {
        "hundred" | "cento" => 100,
        "thousand" | "mille" => 1000,
        _ => cardinal_word(w, Lang::En).or_else(|| cardinal_word(w, Lang::It))?,
    };
    u32::try_from(value).ok()
}

/// 1–12 for an English or Italian month name (folded).
fn month_number(word: &str) -> Option<u32> {
    parla_text::dates::month_number(word)
}

/// Removes `<...>` tags (SSML) from a reply.
fn strip_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        match c {
            '<' => inside = true,
            '>' if inside => {
                inside = false;
                out.push(' ');
            }
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether `phrase` occurs in `text` on word boundaries (both folded).
fn contains_phrase(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + phrase.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let mut f = Facts::new();
        f.allow_text("A1042")
            .allow_text("89.00 EUR")
            .allow_text("15 November 2026")
            .allow_product("Breeze light jacket")
            .know_product("Alpine down parka")
            .allow_text("within 5 working days");
        f
    }

    #[test]
    fn grounded_replies_pass() {
        let f = facts();
        for reply in [
            "Your order A1042 arrived on 15 November 2026.",
            "The refund of 89 EUR (89,00 €) reaches you within five working days.",
            "Order <say-as interpret-as=\"characters\">A1042</say-as>: the Breeze light jacket.",
            "On 15/11/2026 we delivered order a1042.",
            "I can help you with one thing at a time.",
        ] {
            assert_eq!(f.check(reply), Vec::<String>::new(), "{reply}");
        }
    }

    #[test]
    fn invented_facts_fail() {
        let f = facts();
        assert_eq!(
            f.check("Your refund of 120.00 EUR is on its way."),
            ["number 120"]
        );
        assert_eq!(f.check("Order A1043 was delivered."), ["id A1043"]);
        assert_eq!(f.check("It will be 15°C tomorrow."), Vec::<String>::new());
        assert_eq!(f.check("It will be 18°C tomorrow."), ["number 18"]);
        assert_eq!(f.check("Your refund arrives in seven days."), ["number 7"]);
        assert_eq!(
            f.check("I suggest the Alpine down parka."),
            ["product alpine down parka"]
        );
        assert_eq!(f.check("Il rimborso di 90,50 euro."), ["number 90.5"]);
        assert_eq!(f.check("Your return RMA-7781 is open."), ["id RMA7781"]);
    }

    #[test]
    fn numbers_normalise() {
        assert_eq!(normalise_number("89.00").as_deref(), Some("89"));
        assert_eq!(normalise_number("1.250,50").as_deref(), Some("1250.5"));
        assert_eq!(normalise_number("1,250").as_deref(), Some("1250"));
        assert_eq!(normalise_number("007").as_deref(), Some("7"));
        assert_eq!(normalise_number("x"), None);
    }

    #[test]
    fn a_wording_that_drops_the_template_content_fails() {
        let f = facts();
        let required = ["A1042", "15 November 2026", "Breeze light jacket"];
        let template =
            "Your order A1042, the Breeze light jacket, was delivered on 15 November 2026.";
        assert_eq!(
            f.dropped(
                required,
                template,
                "Certainly! The Breeze light jacket of order a1042 arrived on November 15th, 2026."
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            f.dropped(required, template, "Lei"),
            [
                "dropped id A1042",
                "dropped number 15",
                "dropped number 2026",
                "dropped product breeze light jacket",
                "dropped words: 1 of 13",
            ]
        );
        assert_eq!(
            f.dropped(
                required,
                template,
                "Good news: your order A1042 arrived on 15 November 2026."
            ),
            ["dropped product breeze light jacket"]
        );
        // A question must stay a question.
        let ask = "Which order is it? The order number is in your confirmation e-mail, for example A1042.";
        assert_eq!(
            f.dropped([], ask, "Yes, your package has been shipped to you today."),
            ["dropped the question"]
        );
        // An example in the template's own wording is not a fact the customer must hear.
        assert_eq!(
            f.dropped(
                [],
                ask,
                "Could you tell me the order number? It is in your confirmation e-mail."
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn catalogue_products_named_by_a_fact_are_allowed_the_others_fail() {
        let mut f = Facts::new();
        let catalogue = ["Alpine down parka".to_owned(), "Wool sweater".to_owned()];
        f.know_catalogue(
            &catalogue,
            ["I can swap it for the Alpine down parka, rated down to -10 °C."],
        );
        assert_eq!(
            f.check("The Alpine down parka would keep you warm."),
            Vec::<String>::new()
        );
        assert_eq!(
            f.check("Or try our Wool sweater."),
            ["product wool sweater"]
        );
    }
}
