//! Words that tell whether a caller has finished speaking, English and Italian, lowercase: what
//! a sentence cannot end on ("and", "the", "perché"), hesitations ("um", "ehm"), the greetings and
//! acknowledgements that open a thought ("Hi,", "allora"), and the words that announce or make up
//! a number being dictated. The recognizer's end-of-turn decision reads a transcript with them;
//! they live here so that every service hears the same words.

/// Hesitations: sounds a caller makes while thinking, never the end of a turn by themselves.
pub const FILLERS: &[&str] = &[
    // English
    "um", "uh", "erm", "er", "uhm", "umm", "hmm", "mm", // Italian
    "ehm", "ehh", "eh", "mmm",
];

/// Words after which an English or Italian sentence cannot end: conjunctions, prepositions,
/// articles, possessives, hesitations and connectives.
pub const CONTINUATION_WORDS: &[&str] = &[
    // English
    "and", "or", "but", "so", "because", "the", "a", "an", "my", "your", "our", "to", "of", "for",
    "with", "in", "on", "at", "from", "um", "uh", "erm", "er", "uhm", "umm", "like", "which", "if",
    "then", "than", "i", "i'm", "about", "when", "where", "since", "until", "also", "plus",
    // Italian
    "e", "o", "ma", "perché", "perchè", "il", "lo", "la", "gli", "le", "un", "uno", "una", "mio",
    "mia", "di", "da", "per", "con", "su", "del", "della", "al", "alla", "ehm", "ehh", "mmm",
    "cioè", "tipo", "quindi", "però", "anche", "quando", "dove", "se", "poi", "che", "nel",
    "nella", "dal", "dalla", "sul", "sulla", "degli", "dei", "delle",
];

/// Words that open a turn without saying what it is about: greetings, acknowledgements,
/// discourse openers and hesitations. A turn made only of these ("Hi,", "Okay, thank you, um",
/// "Sì, allora") is the start of a thought.
pub const OPENERS: &[&str] = &[
    // English
    "hi",
    "hello",
    "hey",
    "good",
    "morning",
    "afternoon",
    "evening",
    "yes",
    "yeah",
    "yep",
    "no",
    "okay",
    "ok",
    "so",
    "well",
    "um",
    "uh",
    "erm",
    "er",
    "hmm",
    "mm",
    "oh",
    "ah",
    "right",
    "thanks",
    "thank",
    "you",
    "sorry",
    "excuse",
    "me",
    "alright",
    "sure",
    "now",
    "look",
    "listen",
    "actually",
    "anyway",
    "basically",
    "see",
    // Italian
    "ciao",
    "salve",
    "buongiorno",
    "buonasera",
    "pronto",
    "sì",
    "si",
    "allora",
    "dunque",
    "senta",
    "senti",
    "guardi",
    "guarda",
    "ecco",
    "cioè",
    "ehm",
    "eh",
    "mah",
    "beh",
    "bene",
    "grazie",
    "scusi",
    "scusa",
    "mi",
    "certo",
    "va",
    "niente",
    "insomma",
    "comunque",
    "sa",
];

/// Words that usually leave a sentence open ("my order is …") but close a question or statement
/// that the recognizer punctuated ("where my order is?", "can you do that?").
pub const OPEN_UNLESS_CLOSED: &[&str] = &["is", "are", "was", "that", "che", "è", "sono"];

/// Words that announce a number being dictated ("order number", "codice").
pub const NUMBER_CUES: &[&str] = &[
    "number",
    "code",
    "phone",
    "zip",
    "postcode",
    "account",
    "card",
    "order",
    "tracking",
    "reference",
    "numero",
    "codice",
    "ordine",
    "telefono",
    "carta",
    "conto",
];

/// Digits said as words, as callers read a number one digit at a time.
pub const DIGIT_WORDS: &[&str] = &[
    "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "uno",
    "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove",
];
