// Browser test of the chat widget and the agent console, driven by
// tests/chat_browser.rs (which starts `parla serve` and mints the token).
// Debian's chromium through playwright-core. Environment: PARLA_URL,
// SHOP_PORT (the shop page's port, allowed by CORS), SHOP_TOKEN and
// SHOP_TOKEN_TOM (the shop backend's tokens for customers C100 and C300),
// SHOTS (screenshot directory). The shop page signs in as Giulia (C100) by
// default, as Tom with ?as=tom, and nobody with ?as=none.
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

// The harness restarts the server when asked on stdout and answers "restarted" on stdin.
const harness = createInterface({ input: process.stdin });
const told = [];
harness.on("line", (line) => { const t = told.shift(); if (t) t(line); });
function restartServer() {
  const answered = new Promise((resolve) => told.push(resolve));
  console.log("restart server");
  return answered;
}

const parla = process.env.PARLA_URL;
const shots = process.env.SHOTS || "screenshots";
mkdirSync(shots, { recursive: true });
let passed = 0, failed = 0;
function check(what, ok, detail = "") {
  if (ok) { passed++; console.log(`ok   ${what}`); }
  else { failed++; console.log(`FAIL ${what} ${detail}`); }
}

// The shop: a page on another origin that embeds the widget with one tag.
const tokens = { giulia: process.env.SHOP_TOKEN, tom: process.env.SHOP_TOKEN_TOM, none: "" };
const page = (token) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Breeze jackets</h1><p>Our shop page.</p>
<script src="${parla}/widget.js"${token ? ` data-token="${token}"` : ""} defer></script></body></html>`;
const shop = createServer((req, res) => {
  const as = new URL(req.url, "http://shop").searchParams.get("as") || "giulia";
  res.setHeader("content-type", "text/html");
  res.end(page(tokens[as] ?? ""));
});
await new Promise((r) => shop.listen(Number(process.env.SHOP_PORT), "127.0.0.1", r));
const shopUrl = `http://127.0.0.1:${process.env.SHOP_PORT}/`;

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  const customer = await (await browser.newContext({ locale: "en-US", viewport: { width: 1000, height: 700 } })).newPage();
  customer.on("pageerror", (e) => console.log("page error:", e.message));
  await customer.goto(shopUrl);
  const launch = customer.getByRole("button", { name: "Chat with us" });
  await launch.focus();
  await customer.keyboard.press("Enter"); // keyboard only
  check("panel opens from the keyboard and focuses the input", await customer.evaluate(() => document.querySelector("#parla-chat").shadowRoot.activeElement?.id === "parla-input"));
  check("log is an aria-live region", (await customer.locator("[role=log]").getAttribute("aria-live")) === "polite");

  const say = async (text) => {
    await customer.locator("#parla-input").fill(text);
    await customer.keyboard.press("Enter");
  };
  // 1. An order question, answered in a stream.
  await say("Where is my order A1042?");
  const answer = customer.locator(".msg.parla .text").first();
  await answer.waitFor();
  await customer.waitForFunction(() => document.querySelector("#parla-chat").shadowRoot.querySelector(".typing").textContent === "", null, { timeout: 15000 });
  const text = await answer.textContent();
  check("streamed answer names the order", text.includes("A1042"), text);
  const metrics = await customer.evaluate(() => window.ParlaChat.metrics);
  for (const m of metrics) console.log(`figure: first streamed token shown ${m.shownMs - m.serverMs} ms after the server stored it (turn ${m.turn})`);
  await customer.screenshot({ path: `${shots}/widget-answer.png` });

  // 2. Anger hands off to a person.
  const angry = [
    "This is unacceptable, I am furious, your service is useless and terrible!",
    "I'm so angry, this is the worst experience ever, absolutely disgusting!",
    "Still nothing. This is a disgrace, I am furious!",
  ];
  for (const a of angry) {
    // Counted before sending: a fast reply must not be counted as the old state.
    const before = await customer.locator(".msg.parla").count();
    await say(a);
    await customer.waitForFunction((n) => document.querySelector("#parla-chat").shadowRoot.querySelectorAll(".msg.parla").length > n
      && document.querySelector("#parla-chat").shadowRoot.querySelector(".typing").textContent === "", before, { timeout: 15000 });
    if (await customer.getByText("passing you to a colleague").count()) break;
  }
  check("anger triggers a hand-off", (await customer.getByText("passing you to a colleague").count()) === 1);

  // 3. The agent console.
  const agent = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  agent.on("pageerror", (e) => console.log("console error:", e.message));
  await agent.goto(`${parla}/console`);
  await agent.getByLabel("Username").fill("anna");
  await agent.getByLabel("Password").fill("correct horse");
  await agent.getByRole("button", { name: "Sign in" }).click();
  const ticket = agent.locator("#queue button").filter({ hasText: "Giulia Rossi" }).first();
  await ticket.waitFor({ timeout: 10000 });
  await ticket.click();
  await agent.locator("#sentiment-chart").waitFor();
  const transcript = await agent.locator("#transcript").textContent();
  check("context package: transcript", transcript.includes("furious"), transcript);
  check("context package: summary, order, next step", (await agent.getByText("A1042").count()) > 0 && (await agent.locator("#next-step").textContent()).length > 20);
  check("context package: sentiment chart points", (await agent.locator("#sentiment-chart circle").count()) >= 2);
  await agent.getByRole("button", { name: "Accept" }).click();
  await agent.locator("#reply").waitFor();
  await agent.locator("#reply").fill("Hi Giulia, I'm Anna. I'm sorry about the delay, I'm checking with the courier now.");
  await agent.getByRole("button", { name: "Send" }).click();

  // 4. The person joins the customer's thread and answers there.
  await customer.locator(".joined").waitFor({ timeout: 10000 });
  const joined = await customer.locator(".joined").textContent();
  check("the widget says a person joined", joined.includes("Anna") && joined.includes("person"), joined);
  const agentMsg = customer.locator(".msg.agent .text");
  await agentMsg.waitFor({ timeout: 10000 });
  check("the agent's reply appears in the widget", (await agentMsg.textContent()).includes("courier"));
  check("the header shows the person", (await customer.locator("header .who").textContent()).includes("Anna"));

  // 5. Markup in a message is text, never executed.
  const evil = `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">`;
  await say(evil);
  const mine = customer.locator(".msg.customer .text").filter({ hasText: "<script>" });
  await mine.waitFor();
  check("<script> shown as text in the widget", (await mine.textContent()) === evil);
  check("no element injected in the widget", (await customer.evaluate(() => document.querySelector("#parla-chat").shadowRoot.querySelectorAll(".log script, .log img").length)) === 0);
  await agent.locator("#thread").getByText("<script>", { exact: false }).waitFor({ timeout: 10000 });
  check("<script> shown as text in the console", (await agent.locator("#thread img, #thread script").count()) === 0);
  check("nothing executed", (await customer.evaluate(() => window.__xss)) === undefined && (await agent.evaluate(() => window.__xss)) === undefined);
  await customer.screenshot({ path: `${shots}/widget-agent.png` });
  await agent.screenshot({ path: `${shots}/console.png`, fullPage: true });

  // 5b. Wrap up: the console says the ticket is closed, never still "held by" the agent.
  await agent.getByRole("button", { name: "Wrap up" }).click();
  await agent.getByText("closed (wrapped up)").waitFor({ timeout: 10000 })
    .then(() => check("after wrap-up the console shows the ticket closed", true))
    .catch(async () => check("after wrap-up the console shows the ticket closed", false, await agent.locator("dl").textContent()));
  check("no longer held by the agent after wrap-up", (await agent.getByText("held by").count()) === 0);
  await customer.getByText("closed by our colleague").waitFor({ timeout: 10000 });

  // 6. The conversation survives a page load.
  const count = await customer.locator(".msg").count();
  await customer.reload();
  await customer.getByRole("button", { name: "Chat with us" }).click();
  await customer.waitForFunction((n) => document.querySelector("#parla-chat").shadowRoot.querySelectorAll(".msg").length >= n, count, { timeout: 10000 });
  check("the thread is back after a reload", (await customer.locator(".msg").count()) === count);
  check("the panel opens on the newest message", await customer.evaluate(() => {
    const log = document.querySelector("#parla-chat").shadowRoot.querySelector(".log");
    return log.scrollHeight <= log.clientHeight || log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  }));

  // 7. A paste longer than one message is refused in words and kept in the box, never cut.
  const long = "My order arrived damaged. ".repeat(400);
  await customer.locator("#parla-input").fill(long);
  await customer.keyboard.press("Enter");
  await customer.getByText("at most 2000 fit in one message").waitFor({ timeout: 10000 })
    .then(() => check("a 10,000-character paste is refused with a notice", true))
    .catch(() => check("a 10,000-character paste is refused with a notice", false));
  check("the pasted text stays in the box, whole", (await customer.locator("#parla-input").inputValue()) === long);
  check("nothing of the paste was sent", (await customer.locator(".msg").count()) === count);
  await customer.locator("#parla-input").fill("");

  // 8. Two customers on one browser profile: Tom signs in where Giulia chatted, then
  // nobody is signed in. Neither sees the other's thread, and each gets their own answers.
  const shown = () => customer.evaluate(() => document.querySelector("#parla-chat").shadowRoot.querySelector(".log").textContent);
  const settle = () => customer.waitForTimeout(1500);
  await customer.goto(`${shopUrl}?as=tom`);
  await customer.getByRole("button", { name: "Chat with us" }).click();
  await settle();
  let seen = await shown();
  check("Tom's page shows none of Giulia's thread", !seen.includes("A1042") && !seen.includes("furious") && !seen.includes("courier"), seen);
  await say("Where is my order?");
  const tomAnswer = customer.locator(".msg.parla .text").first();
  await tomAnswer.waitFor({ timeout: 15000 });
  await customer.waitForFunction(() => document.querySelector("#parla-chat").shadowRoot.querySelector(".typing").textContent === "", null, { timeout: 15000 });
  seen = await shown();
  check("Tom is answered about his own order, never Giulia's", !seen.includes("A1042") && (await customer.locator(".msg.customer").count()) === 1, seen);
  await customer.screenshot({ path: `${shots}/widget-second-customer.png` });
  await customer.goto(`${shopUrl}?as=none`);
  await customer.getByRole("button", { name: "Chat with us" }).click();
  await settle();
  seen = await shown();
  check("a signed-out page shows neither customer's thread", (await customer.locator(".msg").count()) === 0, seen);
  await customer.goto(shopUrl);
  await customer.getByRole("button", { name: "Chat with us" }).click();
  await customer.waitForFunction((n) => document.querySelector("#parla-chat").shadowRoot.querySelectorAll(".msg").length >= n, count, { timeout: 10000 });
  seen = await shown();
  check("Giulia signed in again gets her own thread back, without Tom's", seen.includes("A1042") && (await customer.locator(".msg").count()) === count, seen);

  // 9. The server restarts mid-conversation (SIGTERM, then started again on the same data):
  // one connection notice that goes away, the message typed while it was down arrives once and
  // is answered below it, and every earlier message keeps its text and order.
  const inWidget = (f, arg) => customer.evaluate(f, arg);
  const bubbles = () => inWidget(() => [...document.querySelector("#parla-chat").shadowRoot.querySelectorAll(".msg")]
    .map((m) => `${m.classList.contains("parla") ? "parla" : m.classList.contains("agent") ? "agent" : "customer"}|${m.querySelector(".text").textContent}`));
  const settled = (n) => customer.waitForFunction((n) => {
    const root = document.querySelector("#parla-chat").shadowRoot;
    const msgs = root.querySelectorAll(".msg");
    return msgs.length >= n && msgs[msgs.length - 1].classList.contains("parla") && root.querySelector(".typing").textContent === "";
  }, n, { timeout: 45000 });
  await customer.goto(`${shopUrl}?as=none`);
  await customer.getByRole("button", { name: "Chat with us" }).click();
  await say("Hello, what are your opening hours?");
  await settled(2);
  await say("Thanks. And how much does shipping cost?");
  await settled(4);
  const earlier = await bubbles();
  const restarted = restartServer();
  await customer.waitForTimeout(500);
  await say("Do you also ship to Italy?");
  await restarted;
  await settled(earlier.length + 2);
  const after = await bubbles();
  check("a restart keeps every earlier message's text and order", JSON.stringify(after.slice(0, earlier.length)) === JSON.stringify(earlier), JSON.stringify({ earlier, after }));
  const asked = after.filter((b) => b === "customer|Do you also ship to Italy?").length;
  check("the message typed during the restart arrives once and is answered below it",
    asked === 1 && after[after.length - 2] === "customer|Do you also ship to Italy?" && after[after.length - 1].startsWith("parla|"), JSON.stringify(after.slice(earlier.length)));
  const notices = await inWidget(() => document.querySelector("#parla-chat").shadowRoot.querySelectorAll(".note").length);
  check("no pile of connection notes in the thread", notices === 0, `${notices} notes`);
  await customer.waitForFunction(() => document.querySelector("#parla-chat").shadowRoot.querySelector(".status").textContent === "", null, { timeout: 10000 })
    .then(() => check("the connection notice clears when the server is back", true))
    .catch(() => check("the connection notice clears when the server is back", false));
  await customer.screenshot({ path: `${shots}/widget-after-restart.png` });

  // 10. An anonymous visitor asks about an order: offered the verification once, proves the
  // order with its e-mail, and is answered about it.
  const visitor = await (await browser.newContext({ locale: "en-US" })).newPage();
  visitor.on("pageerror", (e) => console.log("page error:", e.message));
  await visitor.goto(`${shopUrl}?as=none`);
  await visitor.getByRole("button", { name: "Chat with us" }).click();
  await visitor.locator("#parla-input").fill("Hi, where is my order D5531?");
  await visitor.keyboard.press("Enter");
  const form = visitor.locator("form.verify");
  await form.waitFor({ timeout: 15000 });
  check("an anonymous order question offers the verification", (await form.count()) === 1);
  await visitor.getByLabel("Order number").fill("D5531");
  await visitor.getByLabel("E-mail used for the order").fill("someone.else@example.com");
  await visitor.getByRole("button", { name: "Verify" }).click();
  await visitor.locator("form.verify .problem").filter({ hasText: "don't match" }).waitFor({ timeout: 10000 });
  check("a wrong e-mail is refused in words, and the form stays", (await form.count()) === 1);
  await visitor.getByLabel("E-mail used for the order").fill("tom.baker@example.co.uk");
  await visitor.getByRole("button", { name: "Verify" }).click();
  await visitor.getByText("you're verified").waitFor({ timeout: 10000 });
  check("the verified visitor's form goes away", (await form.count()) === 0);
  const replies = await visitor.locator(".msg.parla").count();
  await visitor.locator("#parla-input").fill("Where is my order?");
  await visitor.keyboard.press("Enter");
  await visitor.waitForFunction((n) => document.querySelector("#parla-chat").shadowRoot.querySelectorAll(".msg.parla").length > n
    && document.querySelector("#parla-chat").shadowRoot.querySelector(".typing").textContent === "", replies, { timeout: 15000 });
  const answer2 = await visitor.locator(".msg.parla .text").last().textContent();
  check("after verification Parla answers about the visitor's order", answer2.includes("D5531") || answer2.includes("UPS"), answer2);
  await visitor.screenshot({ path: `${shots}/widget-verified.png` });

  // 7. Italian browsers get Italian.
  const it = await (await browser.newContext({ locale: "it-IT" })).newPage();
  await it.goto(shopUrl);
  check("Italian browser, Italian widget", (await it.getByRole("button", { name: "Scrivici" }).count()) === 1);
} catch (e) {
  failed++;
  console.log("FAIL", e.stack || e);
} finally {
  await browser.close();
  shop.close();
  harness.close();
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
