// One line of a ticket's thread since the hand-off: who wrote it (the
// agent by name, the customer, or Parla's own note such as a call-back
// request after a phone transfer did not connect) and the text, as text.
import type { TicketMessage } from "../../gen/parla/v1/handoff_pb";

export function messageLine(m: TicketMessage): HTMLElement {
  const who = m.speaker === "agent" ? m.agentName : m.speaker === "parla" ? "Parla (note)" : "customer";
  const line = document.createElement("div");
  line.className = m.speaker === "parla" ? "parla note" : m.speaker;
  line.dataset.id = m.id;
  line.textContent = `${who}: ${m.text}`;
  return line;
}
