//! Turn confidence: one number in [0, 1] that predicts whether Parla got the turn right. It
//! combines the recognizer's confidence (voice), the understanding (probability of the intent and
//! its margin over the runner-up), slot completeness (an order question without an order to
//! answer about is shakier) and the grounding check (a rejected reply means the draft was wrong).
//! Calibration is measured by `parla eval` (reliability by bins and expected calibration error).

use serde::{Deserialize, Serialize};

/// The signals of one turn.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Signals {
    /// Speech recognition confidence in (0, 1]; `None` for typed text.
    pub asr: Option<f32>,
    /// Probability of the chosen intent (temperature-calibrated).
    pub intent_probability: f32,
    /// Probability gap between the intent and the runner-up.
    pub margin: f32,
    /// Slots the step needs.
    pub slots_needed: u32,
    /// Of those, slots known (from the turn or the CRM).
    pub slots_found: u32,
    /// Replies rejected by the grounding check at this turn.
    pub rejected_replies: u32,
}

/// Share of the runner-up's probability subtracted from the intent's. Small: the
/// temperature-calibrated probability already carries most of the doubt (0.3 made the combined
/// confidence under-confident on both evaluation sets, ECE 0.10).
pub const MARGIN_WEIGHT: f32 = 0.1;
/// Exponent of the ASR confidence (recognizer scores are pessimistic: 0.8 is usually right).
pub const ASR_EXPONENT: f32 = 0.5;
/// Factor per missing slot share (an order question with no order: Parla asks for it, which is
/// usually the right answer, so the penalty is mild).
pub const MISSING_SLOT_PENALTY: f32 = 0.1;
/// Factor when the turn's template reply was rejected by the grounding check (a rejected model
/// draft, replaced by the template, does not count).
pub const REJECTED_FACTOR: f32 = 0.7;

/// The combined confidence in [0, 1].
pub fn combine(s: &Signals) -> f32 {
    let p = s.intent_probability.clamp(0.0, 1.0);
    let margin = s.margin.clamp(0.0, 1.0);
    // The margin is p1 − p2, so this takes a share of the runner-up's probability off p1.
    let understanding = p - MARGIN_WEIGHT * (p - margin.min(p));
    let asr = s
        .asr
        .filter(|a| *a > 0.0)
        .map_or(1.0, |a| a.min(1.0).powf(ASR_EXPONENT));
    let slots = if s.slots_needed == 0 {
        1.0
    } else {
        let missing = s.slots_needed.saturating_sub(s.slots_found) as f32 / s.slots_needed as f32;
        1.0 - MISSING_SLOT_PENALTY * missing
    };
    let grounding = if s.rejected_replies > 0 {
        REJECTED_FACTOR
    } else {
        1.0
    };
    (understanding * asr * slots * grounding).clamp(0.0, 1.0)
}

/// One bin of a reliability table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// Lower edge.
    pub low: f32,
    /// Upper edge.
    pub high: f32,
    /// Cases in the bin.
    pub count: usize,
    /// Mean predicted confidence.
    pub predicted: f32,
    /// Share of cases that were right.
    pub observed: f32,
}

/// Reliability table with `bins` equal-width bins and the expected calibration error
/// (count-weighted mean |predicted − observed|).
pub fn reliability(cases: &[(f32, bool)], bins: usize) -> (Vec<Bin>, f32) {
    let bins = bins.max(1);
    let mut table: Vec<Bin> = (0..bins)
        .map(|i| Bin {
            low: i as f32 / bins as f32,
            high: (i + 1) as f32 / bins as f32,
            count: 0,
            predicted: 0.0,
            observed: 0.0,
        })
        .collect();
    for &(c, right) in cases {
        let i = ((c.clamp(0.0, 1.0) * bins as f32) as usize).min(bins - 1);
        table[i].count += 1;
        table[i].predicted += c;
        table[i].observed += f32::from(u8::from(right));
    }
    let mut ece = 0.0;
    for b in &mut table {
        if b.count > 0 {
            b.predicted /= b.count as f32;
            b.observed /= b.count as f32;
            ece += b.count as f32 * (b.predicted - b.observed).abs();
        }
    }
    let n = cases.len().max(1) as f32;
    (table, ece / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(p: f32, margin: f32) -> Signals {
        Signals {
            asr: None,
            intent_probability: p,
            margin,
            slots_needed: 0,
            slots_found: 0,
            rejected_replies: 0,
        }
    }

    #[test]
    fn every_signal_lowers_confidence() {
        let base = combine(&sig(0.9, 0.85));
        assert!(base > 0.85 && base <= 1.0, "{base}");
        assert!(combine(&sig(0.5, 0.05)) < combine(&sig(0.5, 0.4)));
        let asr = combine(&Signals {
            asr: Some(0.4),
            ..sig(0.9, 0.85)
        });
        assert!(asr < base * 0.7, "{asr}");
        let slot = combine(&Signals {
            slots_needed: 1,
            ..sig(0.9, 0.85)
        });
        assert!(slot < base);
        let grounded = combine(&Signals {
            rejected_replies: 1,
            ..sig(0.9, 0.85)
        });
        assert!(grounded < slot);
        assert_eq!(combine(&sig(1.0, 1.0)), 1.0);
    }

    #[test]
    fn reliability_bins_and_ece() {
        let cases = [(0.95, true), (0.95, true), (0.55, false), (0.55, true)];
        let (bins, ece) = reliability(&cases, 5);
        assert_eq!(bins[4].count, 2);
        assert!((bins[4].observed - 1.0).abs() < 1e-6);
        assert!((bins[2].observed - 0.5).abs() < 1e-6);
        // |0.95-1|*2 + |0.55-0.5|*2, over 4.
        assert!((ece - 0.05).abs() < 1e-4, "{ece}");
    }
}
