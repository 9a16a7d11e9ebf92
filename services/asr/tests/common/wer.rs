//! Word error rate with a normalizer that makes "four five seven" and
//! "457", "$120" and "one hundred and twenty dollars", "3rd" and "third"
//! the same words, as WER evaluations of Whisper do; in Italian
//! "quattro cinque sette" = "457", "centoventi euro" = "120 €", "tre
//! marzo" = "3 marzo".

use parla_text::Lang;

/// Word error rate of `hypothesis` against `reference`, after
/// normalization: (substitutions + deletions + insertions) / words.
pub fn wer(reference: &str, hypothesis: &str) -> f64 {
    wer_in(reference, hypothesis, Lang::En)
}

/// [`wer`] with the number words of `lang`.
pub fn wer_in(reference: &str, hypothesis: &str, lang: Lang) -> f64 {
    let (errors, words) = edits(reference, hypothesis, lang);
    if words == 0 {
        return if errors == 0 { 0.0 } else { 1.0 };
    }
    errors as f64 / words as f64
}

/// Corpus word error rate: all errors over all reference words of the
/// (reference, hypothesis) pairs, so a long phrase weighs more than a short
/// one and one word moves the figure by 1 / (total words).
pub fn corpus_wer<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>, lang: Lang) -> f64 {
    let (errors, words) = pairs
        .into_iter()
        .map(|(r, h)| edits(r, h, lang))
        .fold((0, 0), |(e, w), (e2, w2)| (e + e2, w + w2));
    errors as f64 / words.max(1) as f64
}

/// (word edits, reference words) after normalization.
pub fn edits(reference: &str, hypothesis: &str, lang: Lang) -> (usize, usize) {
    let r = normalize_in(reference, lang);
    let h = normalize_in(hypothesis, lang);
    if r.is_empty() {
        return (h.len(), 0);
    }
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, hw) in h.iter().enumerate() {
            let cost = if rw == hw { 0 } else { 1 };
            let next = (prev + cost).min(row[j] + 1).min(row[j + 1] + 1);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    (row[h.len()], r.len())
}

/// The value of a number word: in English "seven", "forty", "third" ("oh"
/// is not one here); in Italian any one-word cardinal up to 2100 ("sette",
/// "centoventi", "duemilaventisei").
fn unit(word: &str, lang: Lang) -> Option<u64> {
    match lang {
        Lang::En => parla_text::numbers::word_value(word, lang),
        Lang::It => {
            static WORDS: std::sync::OnceLock<std::collections::HashMap<String, u64>> =
                std::sync::OnceLock::new();
            let words = WORDS.get_or_init(|| {
                (0..=2100)
                    .map(|n| (parla_text::numbers::cardinal(n, lang), n))
                    .filter(|(w, _)| !w.contains(' '))
                    .collect()
            });
            words.get(word).copied()
        }
    }
}

/// Lowercases, drops punctuation, turns number words and ordinals into
/// digits and joins runs of digits.
pub fn normalize(text: &str) -> Vec<String> {
    normalize_in(text, Lang::En)
}

/// [`normalize`] with the number words of `lang`.
pub fn normalize_in(text: &str, lang: Lang) -> Vec<String> {
    let lowered = text
        .to_lowercase()
        .replace(['-', '/'], " ")
        .replace('’', "'")
        .replace('€', " € ");
    let mut words: Vec<String> = Vec::new();
    // "€120" and "120 €" are "120 euro".
    let mut euro_pending = false;
    for raw in lowered.split_whitespace() {
        let mut w: String = raw
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '\'' | '$' | '.' | '€'))
            .collect();
        w = w.trim_matches(['.', '\'']).to_owned();
        if w == "€" {
            match words.last() {
                Some(last) if last.chars().all(|c| c.is_ascii_digit()) => words.push("euro".into()),
                _ => euro_pending = true,
            }
            continue;
        }
        let dollars = w.starts_with('$');
        w = w.trim_start_matches('$').to_owned();
        // "3rd", "21st" -> "3", "21".
        for suffix in ["st", "nd", "rd", "th"] {
            if w.len() > suffix.len()
                && w.ends_with(suffix)
                && w[..w.len() - suffix.len()]
                    .chars()
                    .all(|c| c.is_ascii_digit())
            {
                w.truncate(w.len() - suffix.len());
            }
        }
        w = w.replace(".00", "").replace(',', "");
        // "4.5.7.2.9" is a dictated digit string, not a decimal.
        if w.matches('.').count() > 1 && w.chars().all(|c| c.is_ascii_digit() || c == '.') {
            w = w.replace('.', "");
        }
        if w.is_empty() {
            continue;
        }
        words.push(w);
        if dollars {
            words.push("dollars".into());
        }
        if std::mem::take(&mut euro_pending) {
            words.push("euro".into());
        }
    }
    // Number words to values: a run of single digits is a digit string,
    // anything else is summed as a cardinal.
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if unit(&words[i], lang).is_some() {
            let mut run = Vec::new();
            let mut j = i;
            while j < words.len() {
                let w = words[j].as_str();
                if let Some(v) = unit(w, lang) {
                    run.push(v);
                } else if w == "hundred" {
                    run.push(100);
                } else if w == "thousand" {
                    run.push(1000);
                } else if w == "and"
                    && j + 1 < words.len()
                    && unit(&words[j + 1], lang).is_some()
                    && !run.is_empty()
                {
                    j += 1;
                    continue;
                } else {
                    break;
                }
                j += 1;
            }
            if run.iter().all(|v| *v < 10) {
                out.push(run.iter().map(|v| v.to_string()).collect());
            } else {
                let (mut total, mut current) = (0u64, 0u64);
                for v in run {
                    match v {
                        100 => current = current.max(1) * 100,
                        1000 => {
                            total += current.max(1) * 1000;
                            current = 0;
                        }
                        _ => current += v,
                    }
                }
                out.push((total + current).to_string());
            }
            i = j;
        } else {
            out.push(words[i].clone());
            i += 1;
        }
    }
    // Join runs of digit tokens ("4 5 7" and "457" are the same).
    let mut joined: Vec<String> = Vec::new();
    for w in out {
        let digits = w.chars().all(|c| c.is_ascii_digit());
        match joined.last_mut() {
            Some(last) if digits && last.chars().all(|c| c.is_ascii_digit()) => last.push_str(&w),
            _ => joined.push(w),
        }
    }
    joined
}

#[test]
fn normalizer_matches_number_forms() {
    assert_eq!(normalize("Order four five seven."), normalize("order 457"));
    assert_eq!(
        normalize("one hundred and twenty dollars"),
        normalize("$120")
    );
    assert_eq!(normalize("March third"), normalize("March 3rd"));
    assert_eq!(
        normalize("4.5.7.2.9"),
        normalize("four five seven two nine")
    );
    assert!(wer("I want to return the jacket", "I want to return a jacket") > 0.1);
    assert_eq!(wer("Hello, world!", "hello world"), 0.0);
    let it = |a: &str, b: &str| wer_in(a, b, Lang::It);
    assert_eq!(it("quattro cinque sette due nove", "45729"), 0.0);
    assert_eq!(it("centoventi euro due volte", "€120 due volte."), 0.0);
    assert_eq!(it("centoventi euro", "120 €"), 0.0);
    assert_eq!(it("il tre marzo", "il 3 marzo"), 0.0);
    assert_eq!(it("L'ordine è arrivato", "l’ordine è arrivato!"), 0.0);
}
