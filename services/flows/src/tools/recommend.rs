//! Choosing a better product from catalogue candidates (all in stock in the wanted size): for
//! warmth, one warmer than what the customer has — the closest fit that still covers the coldest
//! expected temperature when the weather is known, else the warmest; for size, the same product
//! one size up or down.

use parla_proto::v1 as pb;

use crate::facts::{amount, Facts};

/// What the customer wants instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Warmer.
    Warmer,
    /// One size up.
    Bigger,
    /// One size down.
    Smaller,
}

impl Want {
    /// From the flow's `reason` slot value.
    pub fn from_reason(reason: &str) -> Want {
        match reason {
            "too_small" => Want::Bigger,
            "too_big" => Want::Smaller,
            _ => Want::Warmer,
        }
    }
}

/// A product's `warmth_min_c` attribute.
pub fn warmth(p: &pb::Product) -> Option<f32> {
    p.attributes.get("warmth_min_c")?.trim().parse().ok()
}

const SIZES: [&str; 7] = ["XS", "S", "M", "L", "XL", "XXL", "XXXL"];

/// The next size up (`step` 1) or down (-1): letter sizes and numbers.
pub fn next_size(size: &str, step: i32) -> Option<String> {
    let s = size.trim().to_ascii_uppercase();
    if let Some(i) = SIZES.iter().position(|x| *x == s) {
        let j = i as i32 + step;
        return SIZES.get(usize::try_from(j).ok()?).map(|x| (*x).to_owned());
    }
    s.parse::<i32>().ok().map(|n| (n + step).to_string())
}

/// The warmer product for `current_sku` among `candidates`; `coldest_c` when the weather is known.
pub fn warmer<'a>(
    candidates: &'a [pb::Product],
    current_sku: &str,
    coldest_c: Option<f32>,
) -> Option<&'a pb::Product> {
    let current = candidates
        .iter()
        .find(|p| p.sku == current_sku)
        .and_then(warmth)
        .unwrap_or(f32::INFINITY);
    let warmer: Vec<(&pb::Product, f32)> = candidates
        .iter()
        .filter(|p| p.sku != current_sku && !p.final_sale)
        .filter_map(|p| warmth(p).map(|w| (p, w)))
        .filter(|(_, w)| *w < current)
        .collect();
    let warmest = || {
        warmer
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(p, _)| *p)
    };
    match coldest_c {
        Some(cold) => warmer
            .iter()
            .filter(|(_, w)| *w <= cold)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(p, _)| *p)
            .or_else(warmest),
        None => warmest(),
    }
}

/// Facts of a recommendation: `recommended`, `rec_product`, `rec_sku`, `rec_size`,
/// `rec_warmth_c` (when rated), `rec_price`.
pub fn facts(p: Option<&pb::Product>, size: &str) -> Facts {
    let mut f = Facts::new();
    f.insert("recommended".into(), p.is_some().to_string());
    if let Some(p) = p {
        f.insert("rec_product".into(), p.name.clone());
        f.insert("rec_sku".into(), p.sku.clone());
        f.insert("rec_size".into(), size.to_owned());
        if let Some(w) = warmth(p) {
            f.insert("rec_warmth_c".into(), format!("{}", w.round() as i32));
        }
        let currency = if p.currency.is_empty() {
            "EUR"
        } else {
            &p.currency
        };
        f.insert("rec_price".into(), amount(p.price_minor, currency));
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(sku: &str, w: Option<i32>) -> pb::Product {
        let mut p = pb::Product {
            sku: sku.into(),
            name: sku.into(),
            ..Default::default()
        };
        if let Some(w) = w {
            p.attributes.insert("warmth_min_c".into(), w.to_string());
        }
        p
    }

    #[test]
    fn picks_the_closest_cover_or_the_warmest() {
        let c = vec![
            product("BREEZE", Some(10)),
            product("STORM", Some(5)),
            product("PARKA", Some(-10)),
            product("TEE", None),
        ];
        let sku = |p: Option<&pb::Product>| p.map(|p| p.sku.clone());
        assert_eq!(sku(warmer(&c, "BREEZE", Some(-2.0))), Some("PARKA".into()));
        assert_eq!(sku(warmer(&c, "BREEZE", Some(6.0))), Some("STORM".into()));
        assert_eq!(sku(warmer(&c, "BREEZE", None)), Some("PARKA".into()));
        assert_eq!(sku(warmer(&c, "PARKA", None)), None);
        assert_eq!(next_size("m", 1).as_deref(), Some("L"));
        assert_eq!(next_size("XS", -1), None);
        assert_eq!(next_size("43", 1).as_deref(), Some("44"));
    }
}
