//! The support phrases the accuracy tests speak.

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

/// More English support speech for the telephone comparison, so that one
/// word is well under a point of WER (with [`ENGLISH`]: 40 phrases, about
/// 350 words).
pub const ENGLISH_MORE: &[&str] = &[
    "My name is David Miller and I am calling about my order.",
    "The order number is seven three one eight.",
    "I paid forty nine dollars for the blue sweater.",
    "It was delivered to the wrong address yesterday.",
    "Could you send me a new invoice by email?",
    "I would like to change my shipping address.",
    "The zipper on the bag is broken.",
    "I ordered two shirts but only one arrived.",
    "Please cancel my subscription before the end of the month.",
    "When will I get my money back?",
    "My phone number is five five five, two one three four.",
    "I tried to log in but my password does not work.",
    "The coupon code was not applied at checkout.",
    "I want to exchange these boots for a different color.",
    "The tracking page says the parcel is still in the warehouse.",
    "My last name is Garcia, spelled the usual way.",
    "I bought it on the twelfth of January.",
    "The total on my receipt was eighty five dollars.",
    "Is there a store near me where I can return it?",
    "I have been waiting on hold for twenty minutes.",
    "The delivery driver left the box in the rain.",
    "Can you tell me if the coat is back in stock?",
    "I received a damaged lamp and I would like a replacement.",
    "My account was charged but the order was cancelled.",
    "I need the package before Friday, it is a gift.",
    "Please call me back this afternoon.",
    "The jeans fit well but the color is wrong.",
    "How long does a refund usually take?",
    "I never received the confirmation email.",
    "That is all, thank you very much for your help.",
];

/// Italian support phrases: names, order numbers, dates, amounts.
pub const ITALIAN: &[&str] = &[
    "Buongiorno, vorrei restituire la giacca che ho comprato la settimana scorsa.",
    "Il mio ordine non è ancora arrivato.",
    "Vorrei parlare con un operatore, per favore.",
    "Le scarpe sono troppo piccole, mi serve una taglia più grande.",
    "Grazie mille per il vostro aiuto.",
    "Posso avere un rimborso sulla mia carta di credito?",
    "Mi chiamo Giulia Rossi.",
    "Il numero del mio ordine è quattro cinque sette due nove.",
    "Il pacco doveva arrivare il tre marzo.",
    "Mi avete addebitato centoventi euro due volte.",
];
