// One conversation in the console: the context package and the actions.
import { TicketState, type Ticket, type TicketMessage, type Agent } from "../../gen/parla/v1/handoff_pb";
import { HandoffReason } from "../../gen/parla/v1/common_pb";
import { api, isSupervisor, myId, open, refresh } from "./main";
import { messageLine } from "./thread";

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text = "", attrs: Record<string, string> = {}) {
  const e = document.createElement(tag);
  if (text) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** The sentiment trend as a small SVG line chart (−1 bottom, +1 top). */
function chart(scores: number[]): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const w = 240, h = 60;
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(h));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `Sentiment per customer turn: ${scores.map((s) => s.toFixed(2)).join(", ") || "none"}`);
  svg.id = "sentiment-chart";
  const zero = document.createElementNS(ns, "line");
  Object.entries({ x1: "0", x2: String(w), y1: String(h / 2), y2: String(h / 2), stroke: "#ccc" }).forEach(([k, v]) => zero.setAttribute(k, v));
  svg.append(zero);
  const pts = scores.map((s, i) => `${scores.length > 1 ? (i * (w - 10)) / (scores.length - 1) + 5 : w / 2},${(h / 2) * (1 - Math.max(-1, Math.min(1, s))) }`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", pts.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", scores.at(-1)! < -0.2 ? "#b00" : "#234");
  line.setAttribute("stroke-width", "2");
  svg.append(line);
  for (const p of pts) {
    const [x, y] = p.split(",");
    const c = document.createElementNS(ns, "circle");
    c.setAttribute("cx", x); c.setAttribute("cy", y); c.setAttribute("r", "3"); c.setAttribute("fill", "#234");
    svg.append(c);
  }
  return svg;
}

export function renderTicket(root: HTMLElement, t: Ticket, messages: TicketMessage[], agents: Agent[]) {
  const c = t.context!;
  const mine = t.state === TicketState.CLAIMED && t.agentId === myId();
  const reason = c.decision ? HandoffReason[c.decision.reason]?.toLowerCase() : "";
  const h = el("h2", `${t.id} — ${c.customerName || "anonymous customer"}`);
  const facts = el("dl");
  const add = (k: string, v: string) => { if (v) facts.append(el("dt", k), el("dd", v)); };
  add("Channel", c.channel === 1 ? "voice" : "chat");
  add("Language", c.language);
  add("Customer", c.customerId ? `${c.customerId}${c.tier ? ` (${c.tier})` : ""}` : "not verified");
  add("Order", c.orderId);
  add("Why Parla handed off", `${reason || ""}${c.decision?.explanation ? `: ${c.decision.explanation}` : ""}`);
  add("Intent", c.intent ? `${c.intent.name} (${Math.round(c.intent.confidence * 100)}%)` : "");
  const state: Record<number, string> = {
    [TicketState.WAITING]: "waiting for an agent",
    [TicketState.CLAIMED]: `held by ${t.agentName || t.agentId}`,
    [TicketState.RETURNED]: "handed back to Parla",
    [TicketState.CLOSED]: "closed (wrapped up)",
  };
  add("State", state[t.state] || "unknown");
  const summary = el("section", "", { "aria-label": "Summary" });
  summary.append(el("h3", "Summary"), el("p", c.summary || "—"));
  const tried = el("section", "", { "aria-label": "What Parla tried" });
  tried.append(el("h3", "What Parla tried"));
  const triedList = el("ul");
  for (const a of c.actions) triedList.append(el("li", `${a.name}: ${a.ok ? "done" : "failed"} ${a.result}`));
  if (c.flowState?.flow) triedList.append(el("li", `flow ${c.flowState.flow} at step ${c.flowState.step}`));
  const parlaTurns = c.transcript.filter((l) => l.startsWith("parla:")).length;
  triedList.append(el("li", `${parlaTurns} automated replies before the hand-off`));
  tried.append(triedList);
  const trend = el("section", "", { "aria-label": "Sentiment trend" });
  const scores = c.sentimentHistory.length ? c.sentimentHistory : c.sentiment ? [c.sentiment.score] : [];
  trend.append(el("h3", "Sentiment trend"), chart(scores));
  const next = el("p", c.suggestedNextStep || "—", { class: "next", id: "next-step" });
  const transcript = el("section", "", { "aria-label": "Transcript" });
  transcript.append(el("h3", "Transcript"));
  const tl = el("div", "", { class: "thread", id: "transcript" });
  for (const l of c.transcript) tl.append(el("div", l, { class: l.startsWith("customer:") ? "customer" : "parla" }));
  transcript.append(tl);
  const threadBox = el("section", "", { "aria-label": "Conversation with the customer" });
  threadBox.append(el("h3", "Since the hand-off"));
  const thread = el("div", "", { class: "thread", id: "thread", "aria-live": "polite" });
  for (const m of messages) thread.append(messageLine(m));
  threadBox.append(thread);

  const actions = el("div");
  const act = (label: string, f: () => Promise<unknown>) => {
    const b = el("button", label, { type: "button" });
    b.addEventListener("click", async () => {
      try { await f(); await refresh(); await open(t.id); } catch (err: any) { alert(err?.rawMessage || String(err)); }
    });
    actions.append(b);
  };
  if (t.state === TicketState.WAITING) act("Accept", () => api.claim({ ticketId: t.id }));
  if (isSupervisor() && !mine) act("Take over", () => api.takeOver({ ticketId: t.id }));
  if (mine) {
    const reply = el("form", "", { "aria-label": "Reply to the customer", id: "reply-form" });
    const ta = el("textarea", "", { id: "reply", "aria-label": "Reply" }) as HTMLTextAreaElement;
    reply.append(ta, el("button", "Send", { type: "submit" }));
    reply.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = ta.value.trim();
      if (!text) return;
      await api.agentReply({ ticketId: t.id, text });
      ta.value = "";
    });
    actions.append(reply);
    const to = el("select", "", { "aria-label": "Transfer to" }) as HTMLSelectElement;
    for (const a of agents.filter((a) => a.id !== myId())) to.append(el("option", `${a.name}${a.available ? "" : " (away)"} ${a.active}/${a.capacity}`, { value: a.id }));
    actions.append(to);
    act("Transfer", () => api.transfer({ ticketId: t.id, toAgentId: to.value }));
    act("Hand back to Parla", () => api.release({ ticketId: t.id, returnToBot: true, outcome: "returned_to_parla" }));
    const outcome = el("select", "", { "aria-label": "Outcome", id: "outcome" }) as HTMLSelectElement;
    for (const o of ["resolved", "refund_issued", "replacement_sent", "callback_scheduled", "unresolved"]) outcome.append(el("option", o, { value: o }));
    const note = el("input", "", { "aria-label": "Wrap-up note", id: "note", placeholder: "Wrap-up note" }) as HTMLInputElement;
    actions.append(outcome, note);
    act("Wrap up", () => api.release({ ticketId: t.id, returnToBot: false, outcome: outcome.value, note: note.value }));
  }
  const grid = el("div", "", { class: "grid" });
  const left = el("div"); left.append(facts, summary, tried);
  const right = el("div"); right.append(trend, el("h3", "Suggested next step"), next);
  grid.append(left, right);
  root.replaceChildren(h, grid, transcript, threadBox, actions);
}
