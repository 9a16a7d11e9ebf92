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
const form = el("form");
const label = el("label", "sr", w.placeholder);
label.htmlFor = "parla-input";
const input = el("textarea");
input.id = "parla-input";
input.placeholder = w.placeholder;
input.maxLength = 2000;
const send = el("button", "", w.send);
send.type = "submit";
form.append(label, input, send);
panel.append(header, log, typing, form);
root.append(style, launch, panel);

function toggle(open: boolean) {
  panel.hidden = !open;
  launch.setAttribute("aria-expanded", String(open));
  if (open) { input.focus(); connect(); } else launch.focus();
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
    try {
      const stream = client.events({
        conversationId: saved.conversationId,
        afterEventId: lastId,
        customerToken: shopToken,
        conversationToken: saved.token,
      }, { signal: abort.signal });
      for await (const ev of stream) {
        if (mine !== thread) break;
        if (ev.id <= lastId) continue;
        lastId = ev.id;
        show(ev);
        delay = 250;
      }
    } catch (err: any) {
      if (mine !== thread) break;
      // An expired or foreign conversation cannot come back: start afresh.
      if (err?.code === 16 || err?.code === 7 || err?.code === 5) {
        forget();
        break;
      }
      note("note", w.error);
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

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const text = input.value.trim();
  if (!text) return;
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
  try {
    let r;
    try {
      r = await attempt();
    } catch (err: any) {
      // The saved conversation is not this person's (or is gone): start their own.
      if (!saved || !(err?.code === 16 || err?.code === 7 || err?.code === 5)) throw err;
      forget();
      r = await attempt();
    }
    if (!saved) {
      saved = { conversationId: r.conversationId, token: r.conversationToken };
      localStorage.setItem(storeKey, JSON.stringify(saved));
    }
    connect();
  } catch (err: any) {
    note("note", w.refused + (err?.rawMessage || String(err)));
    input.value = text;
  }
});

document.body.append(host);
if (saved) connect();
