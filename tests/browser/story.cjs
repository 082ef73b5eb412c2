// The console and the widget in a real browser (headless Chromium through playwright-core).
// Run by the Rust test `browser::…`, which starts the hub and the servers it needs and passes
// everything in OMNIBRIDGE_BROWSER_STORY (JSON): hub URL, the test page with the widget, the
// operator's credentials, where to save screenshots. Prints one JSON line with what happened;
// exits non-zero on the first failure or on any error in a page's console.
"use strict";
const { launch, watcher, finish } = require("./common.cjs");

(async () => {

const story = JSON.parse(process.env.OMNIBRIDGE_BROWSER_STORY);
const errors = [];
const browser = await launch();

// Any script error fails the story. Chromium also logs every non-2xx fetch as a console error:
// the API's answers that the pages handle on purpose (401 before signing in, 409 for a refused
// send, 422 for an import file with a bad line) are expected; a missing file (404) or a server
// error is not.
const watch = watcher(errors, [401, 409, 422]);

const result = {};
try {
  // The operator signs in.
  const operator = await (await browser.newContext()).newPage();
  watch(operator, "console");
  await operator.goto(`${story.hub}/console`);
  await operator.fill("#email", story.email);
  await operator.fill("#password", story.password);
  await operator.click("#signin button[type=submit]");
  await operator.waitForSelector("#app:not([hidden])");
  await operator.waitForSelector("#signin", { state: "hidden" });

  // A visitor on the shop's page opens the widget and writes.
  const visitorContext = await browser.newContext();
  const visitor = await visitorContext.newPage();
  watch(visitor, "widget");
  await visitor.goto(story.page);
  await visitor.click("#omnibridge-bubble");
  await visitor.fill("#omnibridge-name", "Vera Visitor");
  await visitor.fill("#omnibridge-email", story.visitor_email);
  await visitor.fill("#omnibridge-input", "Hello from the browser");
  await visitor.press("#omnibridge-input", "Enter");
  await visitor.waitForSelector("#omnibridge-log li:has-text('Hello from the browser')");

  // It reaches the operator's inbox without a reload.
  await operator.waitForSelector("#conversations li button", { timeout: 15000 });
  await operator.click("#conversations li button");
  await operator.waitForSelector("#messages li:has-text('Hello from the browser')");
  await operator.screenshot({ path: `${story.screenshots}/console-inbox.png`, fullPage: true });

  // The operator answers; the widget shows them typing, then the reply, live.
  await operator.locator("#reply-text").pressSequentially("Thanks Vera, how can I help?");
  await visitor.waitForSelector("#omnibridge-status:has-text('Agent is typing')", { timeout: 10000 });
  result.typing = true;
  await operator.click("#reply button[type=submit]");
  await visitor.waitForSelector("#omnibridge-log li:has-text('Thanks Vera, how can I help?')", { timeout: 15000 });
  await visitor.screenshot({ path: `${story.screenshots}/widget.png` });

  // The visitor comes back later: the history is there.
  await visitor.reload();
  await visitor.click("#omnibridge-bubble");
  await visitor.waitForSelector("#omnibridge-log li:has-text('Hello from the browser')");
  await visitor.waitForSelector("#omnibridge-log li:has-text('Thanks Vera, how can I help?')");
  result.history = true;

  // "Email me this transcript": the typed-in address is confirmed first, by a link mailed to it
  // through the email channel (the SMTP receiver); the test follows it afterwards.
  await visitor.click("#omnibridge-transcript button[type=submit]");
  await visitor.waitForSelector("#omnibridge-status:has-text('Check your inbox')");
  result.transcript = true;

  // A canned response, filled in for this visitor.
  await operator.selectOption("#reply-canned", { label: "greet" });
  await operator.waitForFunction(() => document.querySelector("#reply-text").value.includes("Vera Visitor"));
  result.canned = await operator.inputValue("#reply-text");

  // Marketing without consent is refused, in words.
  await operator.selectOption("#reply-purpose", "marketing");
  await operator.fill("#reply-text", "20% off everything this week");
  await operator.click("#reply button[type=submit]");
  await operator.waitForSelector("#alert:not([hidden])");
  result.refusal = await operator.textContent("#alert");
  await operator.screenshot({ path: `${story.screenshots}/console-refusal.png`, fullPage: true });

  // Switch channel: the same person is answered by email.
  await operator.selectOption("#reply-purpose", "service");
  const emailOption = await operator.$eval("#reply-channel", (s, id) => [...s.options].some((o) => o.value === id), story.email_channel);
  if (!emailOption) throw new Error("the email channel is not offered for a contact with an email address");
  await operator.selectOption("#reply-channel", story.email_channel);
  await operator.fill("#reply-text", "Following up by email as promised");
  await operator.click("#reply button[type=submit]");
  await operator.waitForSelector("#messages li:has-text('Following up by email as promised')");
  result.email_sent = "Following up by email as promised";

  // A copy to a mailbox that does not exist yet: the relay refuses the mail, the console says
  // why; once the mailbox exists, "Retry" sends the same message again and it goes.
  await operator.fill("#reply-cc", "once-lee@example.org");
  await operator.fill("#reply-text", "Copying my colleague Lee");
  await operator.click("#reply button[type=submit]");
  const copied = "#messages li:has-text('Copying my colleague Lee')";
  await operator.waitForSelector(`${copied}[data-status=failed]`, { timeout: 15000 });
  result.failed_words = await operator.textContent(`${copied} .meta`);
  result.failed_recipients = await operator.textContent(`${copied} .recipients`);
  await operator.click(`${copied} button:has-text('Retry')`);
  await operator.waitForSelector(`${copied}:is([data-status=sent], [data-status=delivered])`, { timeout: 15000 });
  result.failed_retried = await operator.getAttribute(copied, "data-status");

  // Send later: scheduled for tomorrow, shown in words; canceled; then retried, and it goes.
  const tomorrow = new Date(Date.now() + 24 * 3600 * 1000);
  const local = new Date(tomorrow.getTime() - tomorrow.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  await operator.fill("#reply-text", "A reminder about your order");
  await operator.fill("#reply-send-at", local);
  await operator.click("#reply button[type=submit]");
  const later = "#messages li:has-text('A reminder about your order')";
  await operator.waitForSelector(`${later}[data-status=scheduled]`);
  result.scheduled_words = await operator.textContent(`${later} .meta`);
  await operator.click(`${later} button:has-text('Cancel')`);
  await operator.waitForSelector(`${later}[data-status=canceled]`);
  await operator.click(`${later} button:has-text('Retry')`);
  await operator.waitForSelector(`${later}:is([data-status=sent], [data-status=delivered])`);
  result.retried = await operator.getAttribute(later, "data-status");

  // The operator goes away for a while (the team sees it) and looks at the week's figures.
  await operator.selectOption("#me-availability", "away");
  await operator.click("#stats-refresh");
  await operator.waitForSelector("#chart-channels svg rect");
  result.chart_bars = await operator.$$eval("#chart-channels svg rect", (r) => r.length);
  result.stats_opened = await operator.$eval("#stats-total", (dl) => dl.querySelector("dd").textContent);

  // Team import from a CSV file: a bad line imports nobody and is named; the fixed file imports.
  const file = (text) => ({ name: "team.csv", mimeType: "text/csv", buffer: Buffer.from(text) });
  await operator.setInputFiles("#import-file", file("name,email,role\nNina New,nina@shop.example,agent\nOtto,otto-at-shop,agent\n"));
  await operator.click("#import-operators button[type=submit]");
  await operator.waitForSelector("#import-errors li");
  result.import_errors = await operator.$$eval("#import-errors li", (li) => li.map((l) => l.textContent));
  await operator.setInputFiles("#import-file", file("name,email,role\nNina New,nina@shop.example,agent\nOtto,otto@shop.example,agent\n"));
  await operator.click("#import-operators button[type=submit]");
  await operator.waitForSelector("#operators td:has-text('otto@shop.example')");
  result.invitation_shown = await operator.$eval("#operators tbody", (b) => [...b.rows].find((r) => r.textContent.includes("otto@shop.example")).cells[4].textContent);
  await operator.screenshot({ path: `${story.screenshots}/console-team.png`, fullPage: true });
} catch (e) {
  result.failure = String(e && e.stack || e);
}
await finish(browser, result, errors);
})();
