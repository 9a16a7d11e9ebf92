// The agent console served at /console: sign in (argon2-checked, expiring
// session), the queue by priority, each conversation's context package
// (summary, transcript, sentiment trend, order, what Parla tried, the
// suggested next step), and the thread the customer sees. Everything is
// rendered with textContent; the gRPC-web client is generated from proto/.
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Handoff, TicketState, AgentRole, type Ticket, type TicketMessage, type Agent } from "../../gen/parla/v1/handoff_pb";
import { renderTicket } from "./ticket";
import { messageLine } from "./thread";

let token = sessionStorage.getItem("parla-agent-token") || "";
let me: Agent | undefined;
const auth: Interceptor = (next) => async (req) => {
  if (token) req.header.set("authorization", `Bearer ${token}`);
  return next(req);
};
export const api = createClient(Handoff, createGrpcWebTransport({ baseUrl: location.origin, interceptors: [auth] }));

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const loginForm = $<HTMLFormElement>("login");
const app = $("app");
const queue = $("queue");
let selected = "";
let tickets: Ticket[] = [];

function signedIn(agent: Agent) {
  me = agent;
  loginForm.hidden = true;
  app.hidden = false;
  $("logout").hidden = false;
  $("presence-label").hidden = false;
  $<HTMLInputElement>("presence").checked = agent.available;
  $("me").textContent = `${agent.name} (${agent.role === AgentRole.SUPERVISOR ? "supervisor" : "agent"})`;
  refresh();
  watch();
}

loginForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const s = await api.agentLogin({ username: $<HTMLInputElement>("username").value, password: $<HTMLInputElement>("password").value });
    token = s.token;
    sessionStorage.setItem("parla-agent-token", token);
    sessionStorage.setItem("parla-agent", JSON.stringify({ id: s.agent!.id, name: s.agent!.name, role: s.agent!.role }));
    signedIn(s.agent!);
  } catch (err: any) {
    $("login-error").textContent = err?.rawMessage || String(err);
  }
});
$("logout").addEventListener("click", () => { sessionStorage.clear(); location.reload(); });
$<HTMLInputElement>("presence").addEventListener("change", async (e) => {
  await api.setPresence({ available: (e.target as HTMLInputElement).checked });
});

export function isSupervisor() { return me?.role === AgentRole.SUPERVISOR; }
export function myId() { return me?.id || ""; }

export async function refresh() {
  try {
    const r = await api.listTickets({});
    tickets = r.tickets.filter((t) => t.state === TicketState.WAITING || t.state === TicketState.CLAIMED)
      .sort((a, b) => b.priority - a.priority);
  } catch (err: any) {
    if (err?.code === 16) { sessionStorage.clear(); location.reload(); }
    return;
  }
  queue.replaceChildren(...tickets.map((t) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.setAttribute("aria-current", String(t.id === selected));
    b.dataset.ticket = t.id;
    const c = t.context!;
    const who = c.customerName || "anonymous customer";
    const wait = Math.round((Date.now() - (t.createdAt ? timestampMs(t.createdAt) : Date.now())) / 60000);
    b.textContent = `${t.id} · ${who} · ${c.language || "?"} · ${wait} min`;
    const state = document.createElement("span");
    state.className = `pill ${t.state === TicketState.WAITING ? "waiting" : "claimed"}`;
    state.textContent = t.state === TicketState.WAITING ? "waiting" : `with ${t.agentName || t.agentId}`;
    const prio = document.createElement("span");
    prio.className = "pill";
    prio.textContent = `priority ${t.priority.toFixed(0)}`;
    b.append(state, prio);
    b.addEventListener("click", () => open(t.id));
    li.append(b);
    return li;
  }));
}

export async function open(id: string) {
  selected = id;
  queue.querySelectorAll("button").forEach((b) => b.setAttribute("aria-current", String(b.dataset.ticket === id)));
  const detail = await api.getTicket({ ticketId: id });
  let agents: Agent[] = [];
  try { agents = (await api.listAgents({})).agents; } catch { /* not needed to show the ticket */ }
  renderTicket($("ticket"), detail.ticket!, detail.messages, agents);
}

function appendMessage(m: TicketMessage) {
  const thread = document.getElementById("thread");
  if (!thread || m.ticketId !== selected) return;
  if (thread.querySelector(`[data-id="${CSS.escape(m.id)}"]`)) return;
  thread.append(messageLine(m));
  thread.scrollTop = thread.scrollHeight;
}

async function watch() {
  for (;;) {
    try {
      for await (const ev of api.watchQueue({})) {
        if (ev.message) appendMessage(ev.message);
        else {
          refresh();
          if (ev.ticket?.id === selected) open(selected);
        }
      }
    } catch { /* reconnect below */ }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const saved = sessionStorage.getItem("parla-agent");
if (token && saved) {
  try { signedIn({ ...JSON.parse(saved), available: true } as Agent); } catch { sessionStorage.clear(); }
}
