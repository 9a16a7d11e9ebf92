// The Parla chat widget: one <script> tag on a shop's page.
//
//   <script src="https://parla.example/widget.js" data-token="JWT" defer></script>
//
// Attributes: data-server (Parla's URL; default: where the script came
// from), data-token (a short-lived token from the shop's backend naming
// the signed-in customer; none for an anonymous chat), data-lang (default:
// the browser's language). `window.ParlaChat.setToken(t)` updates the token.
//
// It talks gRPC-web to Parla (Chat.Send, Chat.Events) through a client
// generated from proto/, streams replies as they are produced, resumes the
// event stream from the last event id after a network drop, keeps the
// conversation across page loads (localStorage), and renders every message
// as text (never as HTML).
//
// One browser, several people: the saved conversation is kept per identity
// (the customer the shop's token names, or one anonymous visitor), so a
// page signed in as another customer, or signed out, never loads it; the
// server checks the same (a signed-in customer's conversation opens only
// with that customer's shop token). A message already shown is never
// rewritten: a reply's bubble takes deltas only until its final.
import { createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Chat, type ChatEvent } from "../../gen/parla/v1/gateway_pb";
import { css } from "./style";
import { language, words } from "./i18n";

const script = document.currentScript as HTMLScriptElement | null;
const server = script?.dataset.server || (script ? new URL(script.src).origin : location.origin);
let shopToken = script?.dataset.token || "";
const lang = language(script?.dataset.lang);
const w = words(lang);

/** Whom a shop token names (its `sub`; not verified here, only used to pick the saved
 *  conversation: the server verifies), or "anonymous". */
function identity(token: string): string {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const sub = JSON.parse(atob(payload)).sub;
    return typeof sub === "string" && sub ? `customer:${sub}` : "anonymous";
  } catch {
    return "anonymous";
  }
}
const storeKeyOf = (token: string) => `parla-chat:${server}:${identity(token)}`;
let storeKey = storeKeyOf(shopToken);
// Widgets before per-identity keys kept one conversation per browser: never resumed.
localStorage.removeItem(`parla-chat:${server}`);

type Saved = { conversationId: string; token: string };
function load(): Saved | null {
  try {
    const s = JSON.parse(localStorage.getItem(storeKey) || "null");
    return s && typeof s.conversationId === "string" && typeof s.token === "string" ? s : null;
  } catch {
    return null;
  }
}
let saved = load();

const client = createClient(Chat, createGrpcWebTransport({ baseUrl: server }));

/** Latency figures the browser test reads: first delta of each turn. */
const metrics: { turn: number; serverMs: number; shownMs: number }[] = [];
(window as any).ParlaChat = {
  /** A fresh token from the shop; naming another customer (or none) switches the widget to
   *  that person's own conversation. */
  setToken(t: string) {
    const switched = identity(t) !== identity(shopToken);
    shopToken = t;
    if (switched) {
      storeKey = storeKeyOf(t);
      clearThread();
      saved = load();
      if (saved && !panel.hidden) connect();
    }
  },
  metrics,
  /** Forgets this identity's conversation (a shop calls it when the customer signs out). */
  reset() { localStorage.removeItem(storeKey); saved = null; clearThread(); },
};

// --- DOM (all text through textContent) ---
function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls = "", text = ""): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}
const host = el("div");
host.id = "parla-chat";
const root = host.attachShadow({ mode: "open" });
const style = el("style");
style.textContent = css;
const launch = el("button", "launch", w.open);
launch.setAttribute("aria-expanded", "false");
launch.setAttribute("aria-controls", "parla-panel");
const panel = el("section", "panel");
panel.id = "parla-panel";
panel.hidden = true;
panel.setAttribute("role", "dialog");
panel.setAttribute("aria-label", w.title);
const header = el("header");
const titles = el("div");
const title = el("h2", "", w.title);
const who = el("div", "who", w.parla);
titles.append(title, who);
const close = el("button", "", "×");
close.setAttribute("aria-label", w.close);
header.append(titles, close);
const log = el("div", "log");
log.setAttribute("role", "log");
log.setAttribute("aria-live", "polite");
log.setAttribute("aria-relevant", "additions text");
log.tabIndex = 0;
const typing = el("div", "typing");
typing.setAttribute("aria-live", "polite");
/** One connection notice at a time (never a pile of them), cleared when the link is back. */
const status = el("div", "status");
status.setAttribute("role", "status");
const form = el("form");
const label = el("label", "sr", w.placeholder);
label.htmlFor = "parla-input";
const input = el("textarea");
input.id = "parla-input";
input.placeholder = w.placeholder;
// The longest message Parla takes (the server's limit too); longer text is refused with a
// notice and kept in the box, never cut silently.
const MAX_CHARS = 2000;
const send = el("button", "", w.send);
send.type = "submit";
form.append(label, input, send);
panel.append(header, log, status, typing, form);
root.append(style, launch, panel);

function toggle(open: boolean) {
  panel.hidden = !open;
  launch.setAttribute("aria-expanded", String(open));
  if (open) { input.focus(); log.scrollTop = log.scrollHeight; connect(); } else launch.focus();
}
launch.addEventListener("click", () => toggle(panel.hidden));
close.addEventListener("click", () => toggle(false));
panel.addEventListener("keydown", (e) => { if (e.key === "Escape") toggle(false); });
input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); }
});

function bubble(cls: string, by: string, text: string): HTMLElement {
  const b = el("div", `msg ${cls}`);
  b.append(el("span", "by", by), el("span", "text", text));
  log.append(b);
  log.scrollTop = log.scrollHeight;
  return b;
}
function note(cls: string, text: string) {
  log.append(el("div", cls, text));
  log.scrollTop = log.scrollHeight;
}

/** The verification an anonymous visitor is offered: an order number and that order's e-mail
 *  (Chat.Verify). Success gives a token naming the customer; the thread goes on. */
function verifyForm() {
  if (log.querySelector(".verify") || !saved) return;
  const f = el("form", "verify");
  const field = (id: string, text: string, type: string, autocomplete: string) => {
    const l = el("label", "", text);
    const i = el("input");
    i.id = id; i.type = type; i.required = true; i.autocomplete = autocomplete;
    l.htmlFor = id;
    f.append(l, i);
    return i;
  };
  const order = field("parla-verify-order", w.verifyOrder, "text", "off");
  const email = field("parla-verify-email", w.verifyEmail, "email", "email");
  const go = el("button", "", w.verify);
  go.type = "submit";
  const problem = el("div", "problem");
  problem.setAttribute("role", "alert");
  f.append(go, problem);
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!saved) return;
    go.disabled = true;
    try {
      const r = await client.verify({
        conversationId: saved.conversationId,
        customerToken: "",
        conversationToken: saved.token,
        orderId: order.value.trim(),
        email: email.value.trim(),
      });
      saved = { conversationId: saved.conversationId, token: r.conversationToken };
      localStorage.setItem(storeKey, JSON.stringify(saved));
      f.remove();
    } catch (err: any) {
      problem.textContent = err?.code === 7 ? w.verifyFailed : err?.code === 8 ? w.refused + (err?.rawMessage || "") : w.notSent;
      go.disabled = false;
    }
  });
  log.append(f);
  log.scrollTop = log.scrollHeight;
  order.focus();
}

let statusTimer: ReturnType<typeof setTimeout> | undefined;
let linkLost = false;
/** The link failed: one notice, kept until it is back. */
function lost() {
  linkLost = true;
  clearTimeout(statusTimer);
  status.textContent = w.error;
}
/** The link works: a lost link's notice turns into "connected again", then goes. */
function back() {
  if (!linkLost) return;
  linkLost = false;
  status.textContent = w.reconnected;
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => { if (!linkLost) status.textContent = ""; }, 3000);
}

// --- events ---
let lastId = 0n;
/** The bubble of each reply still streaming, by turn; a final closes it. */
const replies = new Map<number, HTMLElement>();
/** Bumped when the thread is cleared: the stream of the previous thread is aborted. */
let thread = 0;
let abort = new AbortController();
function clearThread() {
  thread++;
  abort.abort();
  abort = new AbortController();
  lastId = 0n;
  replies.clear();
  log.replaceChildren();
  typing.textContent = "";
}
function show(ev: ChatEvent) {
  const e = ev.event;
  switch (e.case) {
    case "customerMessage":
      bubble("customer", w.you, e.value);
      break;
    case "reply": {
      const r = e.value.event;
      if (r.case === "delta") {
        let b = replies.get(r.value.turnIndex);
        if (!b) {
          b = bubble("parla", w.parla, "");
          replies.set(r.value.turnIndex, b);
          if (ev.at) metrics.push({ turn: r.value.turnIndex, serverMs: timestampMs(ev.at), shownMs: Date.now() });
        }
        b.querySelector(".text")!.textContent += r.value.text;
        log.scrollTop = log.scrollHeight;
      } else if (r.case === "final") {
        // The streaming bubble of this turn gets its final text; without one, a new bubble.
        // Either way the turn is closed: a later reply with the same number (a restarted
        // count) starts its own bubble instead of rewriting this one.
        const b = replies.get(r.value.turnIndex) || bubble("parla", w.parla, "");
        b.querySelector(".text")!.textContent = r.value.text;
        replies.delete(r.value.turnIndex);
      }
      break;
    }
    case "typing":
      typing.textContent = e.value ? w.typing : "";
      break;
    case "handoff":
      note("note", w.handoff);
      break;
    case "agentJoined":
      panel.classList.add("human");
      who.textContent = w.withPerson(e.value.agentName);
      note("joined", w.joined(e.value.agentName));
      break;
    case "agentMessage":
      bubble("agent", `${e.value.agentName} (${w.person})`, e.value.text);
      break;
    case "notice":
      if (e.value.kind === "returned_to_parla" || e.value.kind === "closed") {
        panel.classList.remove("human");
        who.textContent = w.parla;
      }
      note("note", e.value.text);
      if (e.value.kind === "verify_offer") verifyForm();
      if (e.value.kind === "verified") log.querySelectorAll(".verify").forEach((f) => f.remove());
      break;
  }
}

let streaming = false;
async function connect() {
  if (streaming || !saved) return;
  streaming = true;
  const mine = thread;
  let delay = 250;
  while (saved && mine === thread) {
    let steady: ReturnType<typeof setTimeout> | undefined;
    try {
      const stream = client.events({
        conversationId: saved.conversationId,
        afterEventId: lastId,
        customerToken: shopToken,
        conversationToken: saved.token,
      }, { signal: abort.signal });
      // A stream that stays open a moment (or delivers) is a link that works again.
      steady = setTimeout(back, 1500);
      for await (const ev of stream) {
        back();
        if (mine !== thread) break;
        if (ev.id <= lastId) continue;
        lastId = ev.id;
        show(ev);
        delay = 250;
      }
      clearTimeout(steady);
    } catch (err: any) {
      clearTimeout(steady);
      if (mine !== thread) break;
      // An expired or foreign conversation cannot come back: start afresh.
      if (err?.code === 16 || err?.code === 7 || err?.code === 5) {
        forget();
        break;
      }
      lost();
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 5000);
  }
  streaming = false;
  if (saved && mine !== thread) connect();
}

/** Drops the saved conversation and what it showed. */
function forget() {
  localStorage.removeItem(storeKey);
  saved = null;
  clearThread();
}

/** Codes worth sending again with the same message id (the server stores it once): the
 *  server restarting or unreachable, a deadline. */
const transient = (code: number | undefined) => code === undefined || code === 14 || code === 4 || code === 2;

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  const chars = [...text].length;
  if (chars > MAX_CHARS) {
    note("note", w.tooLong(chars, MAX_CHARS));
    return;
  }
  input.value = "";
  const clientMessageId = crypto.randomUUID ? crypto.randomUUID() : String(Math.random());
  const attempt = () => client.send({
    conversationId: saved?.conversationId || "",
    text,
    language: lang,
    customerToken: shopToken,
    conversationToken: saved?.token || "",
    clientMessageId,
  });
  // A restarting server is waited for (about half a minute), with one notice, and the same
  // message id: a message that did arrive is never stored twice.
  const patiently = async () => {
    let delay = 500;
    for (let waited = 0; ; waited += delay, delay = Math.min(delay * 2, 4000)) {
      try {
        const r = await attempt();
        back();
        return r;
      } catch (err: any) {
        if (!transient(err?.code) || waited > 30000) throw err;
        lost();
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };
  try {
    let r;
    try {
      r = await patiently();
    } catch (err: any) {
      // The saved conversation is not this person's (or is gone): start their own.
      if (!saved || !(err?.code === 16 || err?.code === 7 || err?.code === 5)) throw err;
      forget();
      r = await patiently();
    }
    if (!saved) {
      saved = { conversationId: r.conversationId, token: r.conversationToken };
      localStorage.setItem(storeKey, JSON.stringify(saved));
    }
    connect();
  } catch (err: any) {
    // What the customer can act on (a message too long, too many too fast); never internals.
    const actionable = err?.code === 3 || err?.code === 8;
    note("note", actionable ? w.refused + (err?.rawMessage || "") : w.notSent);
    input.value = text;
  }
});

document.body.append(host);
if (saved) connect();
