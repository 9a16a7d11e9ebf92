// Widget wording in English and Italian, chosen from the browser's language.
const en = {
  open: "Chat with us",
  close: "Close chat",
  title: "Customer support",
  placeholder: "Type your message…",
  send: "Send",
  you: "You",
  parla: "Parla (virtual assistant)",
  typing: "Typing…",
  handoff: "I'm passing you to a colleague. Please stay here.",
  joined: (name: string) => `${name}, a person from our team, joined the conversation.`,
  withPerson: (name: string) => `You're chatting with ${name} (a person)`,
  person: "person",
  error: "Connection lost, reconnecting…",
  reconnected: "Connected again.",
  refused: "Your message was not sent: ",
  notSent: "Your message was not sent. Please try again in a moment.",
  tooLong: (n: number, max: number) => `This message has ${n} characters; at most ${max} fit in one message. Please shorten it or send it in parts.`,
  verifyOrder: "Order number",
  verifyEmail: "E-mail used for the order",
  verify: "Verify",
  verifyFailed: "This order number and e-mail address don't match. Please check them.",
};
type Words = typeof en;
const it: Words = {
  open: "Scrivici",
  close: "Chiudi la chat",
  title: "Assistenza clienti",
  placeholder: "Scriva il suo messaggio…",
  send: "Invia",
  you: "Lei",
  parla: "Parla (assistente virtuale)",
  typing: "Sta scrivendo…",
  handoff: "La passo a un collega. Resti in linea, per favore.",
  joined: (name: string) => `${name}, una persona del nostro team, si è unita alla conversazione.`,
  withPerson: (name: string) => `Sta parlando con ${name} (una persona)`,
  person: "persona",
  error: "Connessione persa, mi riconnetto…",
  reconnected: "Di nuovo connessi.",
  refused: "Messaggio non inviato: ",
  notSent: "Il messaggio non è stato inviato. Riprovi tra un momento, per favore.",
  tooLong: (n: number, max: number) => `Questo messaggio ha ${n} caratteri; in un messaggio ne entrano al massimo ${max}. Lo accorci o lo invii in più parti, per favore.`,
  verifyOrder: "Numero d'ordine",
  verifyEmail: "E-mail usata per l'ordine",
  verify: "Verifica",
  verifyFailed: "Il numero d'ordine e l'e-mail non corrispondono. Li controlli, per favore.",
};

/** The browser's language, reduced to one Parla speaks. */
export function language(preferred?: string): "en" | "it" {
  const l = (preferred || navigator.language || "en").toLowerCase();
  return l.startsWith("it") ? "it" : "en";
}

export function words(lang: "en" | "it"): Words {
  return lang === "it" ? it : en;
}
