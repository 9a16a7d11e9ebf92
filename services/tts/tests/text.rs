//! Reading rules: numbers, money, dates, codes, SSML and sentence cutting.

use parla_tts::text::dates::spoken as date;
use parla_tts::text::numbers::{cardinal, characters, currency, telephone};
use parla_tts::text::Lang;
use parla_tts::text::{plan, Piece, SentenceBuffer};
use parla_tts::TtsError;

#[test]
fn numbers_in_english_and_italian() {
    assert_eq!(
        cardinal(4521, Lang::En),
        "four thousand five hundred twenty-one"
    );
    assert_eq!(cardinal(4521, Lang::It), "quattromilacinquecentoventuno");
    assert_eq!(cardinal(28, Lang::It), "ventotto");
    assert_eq!(cardinal(1_000_000, Lang::It), "un milione");
    assert_eq!(cardinal(23, Lang::It), "ventitré");
}

#[test]
fn money_reads_like_a_person() {
    assert_eq!(
        currency("€49.90", Lang::En).unwrap(),
        "forty-nine euros ninety"
    );
    assert_eq!(
        currency("€49.90", Lang::It).unwrap(),
        "quarantanove euro e novanta"
    );
    assert_eq!(
        currency("49,90 €", Lang::It).unwrap(),
        "quarantanove euro e novanta"
    );
    assert_eq!(currency("$1", Lang::En).unwrap(), "one dollar");
    assert_eq!(currency("€0.50", Lang::En).unwrap(), "fifty cents");
    assert!(currency("abc", Lang::En).is_none());
}

#[test]
fn dates_codes_and_phones() {
    assert_eq!(
        date("2026-03-05", None, Lang::En).unwrap(),
        "March fifth, twenty twenty-six"
    );
    assert_eq!(
        date("2026-03-01", None, Lang::It).unwrap(),
        "primo marzo duemilaventisei"
    );
    assert_eq!(
        date("05/03/2026", None, Lang::It).unwrap(),
        "cinque marzo duemilaventisei"
    );
    assert!(date("2026-13-40", None, Lang::En).is_none());
    assert_eq!(characters("A-4521", Lang::En), "ay, four five two one");
    assert_eq!(
        telephone("+39 02 1234", Lang::It),
        "più, tre nove, zero due, uno due tre quattro"
    );
}

fn texts(pieces: &[Piece]) -> Vec<String> {
    pieces
        .iter()
        .filter_map(|p| {
            if let Piece::Text { text, .. } = p {
                Some(text.clone())
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn ssml_subset() {
    let p = plan(r#"<speak>Order <say-as interpret-as="order-id">A4521</say-as> costs <say-as interpret-as="currency">€49.90</say-as>.<break time="300ms"/><prosody rate="slow" pitch="-10%">Thanks &amp; bye.</prosody></speak>"#, true, Lang::En).unwrap();
    assert_eq!(
        texts(&p),
        [
            "Order",
            "ay four five two one",
            "costs",
            "forty-nine euros ninety",
            ".",
            "Thanks & bye."
        ]
    );
    assert!(p.contains(&Piece::Break { ms: 300 }));
    assert!(p.iter().any(|x| matches!(x, Piece::Text { rate, pitch, .. } if (*rate - 0.8).abs() < 1e-6 && (*pitch - 0.9).abs() < 1e-6)));
}

#[test]
fn malformed_ssml_names_the_position() {
    let cases = [
        ("<speak>Hello <prosody rate=\"fast\">there</speak>", 1, 40),
        ("<speak>\n  <bogus/>\n</speak>", 2, 3),
        ("<speak><break time=\"soon\"/></speak>", 1, 21),
        ("<speak>a &nope; b</speak>", 1, 10),
        ("<speak>Hello", 1, 13),
    ];
    for (src, line, column) in cases {
        match plan(src, true, Lang::En) {
            Err(TtsError::Ssml {
                line: l,
                column: c,
                reason,
            }) => {
                assert_eq!((l, c), (line, column), "{src}: {reason}");
            }
            other => panic!("{src}: expected an SSML error, got {other:?}"),
        }
    }
}

#[test]
fn sentences_are_cut_as_deltas_arrive() {
    let mut b = SentenceBuffer::new(false);
    assert!(b.push("Your total is €49.").is_empty());
    let mut got = Vec::new();
    let mut b = SentenceBuffer::new(false);
    for d in [
        "Your total is €49.",
        "90. Dr. Smith will",
        " call you! Is that ok",
        "?",
    ] {
        got.extend(b.push(d));
    }
    got.extend(b.finish());
    assert_eq!(
        got,
        [
            "Your total is €49.90.",
            "Dr. Smith will call you!",
            "Is that ok?"
        ]
    );
    let mut s = SentenceBuffer::new(true);
    let mut got = s.push("<speak>Hi <prosody rate=\"slow\">there. You</prosody> ok? Fine");
    got.extend(s.finish());
    assert_eq!(
        got,
        ["Hi <prosody rate=\"slow\">there. You</prosody> ok?", "Fine"]
    );
}

/// What the dialogue manager sends for voice (`templates.rs` wraps ids,
/// amounts, dates and counts in `say-as`): every part is accepted and read
/// in the reply's language.
#[test]
fn dialogue_markup_is_read() {
    let en = plan(
        r#"Order <say-as interpret-as="characters">A1042</say-as> arrives on <say-as interpret-as="date">15 November 2026</say-as>. Your refund of <say-as interpret-as="currency">89.00 EUR</say-as> takes <say-as interpret-as="cardinal">5</say-as> days."#,
        true,
        Lang::En,
    )
    .unwrap();
    let en = texts(&en).join(" ");
    assert!(en.contains("November fifteenth, twenty twenty-six"), "{en}");
    assert!(en.contains("eighty-nine euros"), "{en}");
    assert!(en.contains("ay one zero four two"), "{en}");
    assert!(en.contains("five"), "{en}");
    let it = plan(
        r#"L'ordine arriva il <say-as interpret-as="date">15 novembre 2026</say-as>, rimborso di <say-as interpret-as="currency">89.00 EUR</say-as>."#,
        true,
        Lang::It,
    )
    .unwrap();
    let it = texts(&it).join(" ");
    assert!(it.contains("quindici novembre duemilaventisei"), "{it}");
    assert!(it.contains("ottantanove euro"), "{it}");
    // Not a date: refused with the position of the text.
    let bad = plan(
        r#"<say-as interpret-as="date">next week</say-as>"#,
        true,
        Lang::En,
    );
    assert!(
        matches!(bad, Err(TtsError::Ssml { line: 1, .. })),
        "{bad:?}"
    );
}
