//! The support phrases the accuracy tests speak (included by the tests).

#![allow(dead_code)]

/// English support phrases: names, order numbers, dates, amounts.
pub const ENGLISH: &[&str] = &[
    "Hi, my name is Sarah Johnson.",
    "I want to return the jacket I bought last week.",
    "My order number is four five seven two nine.",
    "The package was supposed to arrive on March third.",
    "I was charged one hundred and twenty dollars twice.",
    "Can I speak to a human agent, please?",
    "The shoes are too small, I need a larger size.",
    "I would like a refund to my credit card.",
    "Where is my delivery? It is three days late.",
    "Thank you for your help, have a nice day.",
];

/// Italian support phrases.
pub const ITALIAN: &[&str] = &[
    "Buongiorno, vorrei restituire la giacca che ho comprato la settimana scorsa.",
    "Il mio ordine non è ancora arrivato.",
    "Vorrei parlare con un operatore, per favore.",
    "Le scarpe sono troppo piccole, mi serve una taglia più grande.",
    "Grazie mille per il vostro aiuto.",
    "Posso avere un rimborso sulla mia carta di credito?",
];
