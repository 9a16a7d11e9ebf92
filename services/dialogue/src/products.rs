//! Questions about a catalogue product's price ("how much is the Ridge one?", "il piumino
//! Dolomiti quanto costa?"): which product the customer names, by the words of its name that no
//! other product of the catalogue has, and whether they ask what it costs. Pure: the catalogue
//! comes from the caller.

use crate::text;

/// A catalogue product as the dialogue needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Priced {
    /// Display name.
    pub name: String,
    /// Price in minor units.
    pub price_minor: i64,
    /// ISO currency.
    pub currency: String,
}

/// Words that ask for a price, accent-folded.
const PRICE_WORDS: &[&str] = &[
    "how much",
    "price",
    "prices",
    "priced",
    "cost",
    "costs",
    "pricey",
    "quanto costa",
    "quanto costano",
    "quanto viene",
    "quanto vengono",
    "prezzo",
    "prezzi",
    "costa",
    "costano",
    "costo",
];

/// The customer asks what something costs.
pub fn asks_price(said: &str) -> bool {
    let words = text::words(&text::fold(said))
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    PRICE_WORDS.iter().any(|p| {
        let cue: Vec<&str> = p.split(' ').collect();
        words
            .windows(cue.len())
            .any(|w| w.iter().zip(&cue).all(|(a, b)| a == b))
    })
}

/// The product the text names: the one with the most words of its name (four letters or more)
/// that appear in the text and in no other product's name. `None` when no product is named
/// that way, or two are named equally.
pub fn named<'a>(catalogue: &'a [Priced], said: &str) -> Option<&'a Priced> {
    let folded = text::fold(said);
    let said: Vec<&str> = text::words(&folded);
    let names: Vec<Vec<String>> = catalogue
        .iter()
        .map(|p| {
            let f = text::fold(&p.name);
            text::words(&f).into_iter().map(str::to_owned).collect()
        })
        .collect();
    let mut best: Option<(usize, usize)> = None;
    let mut tie = false;
    for (i, words) in names.iter().enumerate() {
        let own = words
            .iter()
            .filter(|w| w.chars().count() >= 4)
            .filter(|w| {
                names
                    .iter()
                    .enumerate()
                    .all(|(j, other)| j == i || !other.contains(w))
            })
            .filter(|w| said.contains(&w.as_str()))
            .count();
        match best {
            _ if own == 0 => {}
            Some((n, _)) if own < n => {}
            Some((n, _)) if own == n => tie = true,
            _ => {
                best = Some((own, i));
                tie = false;
            }
        }
    }
    best.filter(|_| !tie).map(|(_, i)| &catalogue[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> Vec<Priced> {
        [
            ("Ridge Insulated Jacket", 14900),
            ("Breeze Light Jacket", 7900),
            ("Piumino Dolomiti", 18900),
            ("Pile Summit", 5900),
        ]
        .into_iter()
        .map(|(n, p)| Priced {
            name: n.into(),
            price_minor: p,
            currency: "EUR".into(),
        })
        .collect()
    }

    #[test]
    fn a_price_question_names_its_product() {
        let c = catalogue();
        for (said, want) in [
            (
                "oh right and uh how much is the ridge one",
                "Ridge Insulated Jacket",
            ),
            ("il piumino dolomiti quanto costa?", "Piumino Dolomiti"),
            ("what does the Summit cost", "Pile Summit"),
        ] {
            assert!(asks_price(said), "{said}");
            assert_eq!(named(&c, said).map(|p| p.name.as_str()), Some(want));
        }
        // "jacket" is in two names: it names neither.
        assert_eq!(named(&c, "how much is the jacket"), None);
        assert!(!asks_price("I'd like to return the Ridge jacket"));
        assert!(!asks_price("costume party outfit"));
    }
}
