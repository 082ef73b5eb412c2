// The console an operator would choose and the widget a shop owner would brand, in headless
// Chromium: rows that tell visitors apart, unread that clears, a delivered reply, a notification
// for a new conversation, merge by typing an email; the widget in German with the shop's colour,
// its required pre-chat field, a picture sent from it, a refused program, and a visitor who uses
// only the keyboard. axe-core checks the sign-in page, the inbox, a conversation and the open
// widget. Labels, a saved view, an attribute and search as you type from the keyboard, with axe.
// Run by the Rust test `browser::…` with OMNIBRIDGE_BROWSER_STORY (JSON); prints one JSON
// line with what happened.
"use strict";
const { launch, watcher, seriousViolations, finish } = require("./common.cjs");

(async () => {
const story = JSON.parse(process.env.OMNIBRIDGE_BROWSER_STORY);
const errors = [];
const browser = await launch();
// 401 before signing in and 422 for refusals the pages handle are expected.
const watch = watcher(errors, [401, 422]);
const result = { axe: {} };
async function axe(page, name, include) {
  result.axe[name] = await seriousViolations(page, include);
}
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAgAAAAIAQMAAAD+wSzIAAAABlBMVEX/AAD///9BHTQRAAAADklEQVQI12P4z8DAwMAAAw4BAQbqZ+8AAAAASUVORK5CYII=", "base64");

try {
  // The operator signs in, on another tab as far as the page knows (so notifications show).
  const consoleContext = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await consoleContext.grantPermissions(["notifications"], { origin: story.hub });
  await consoleContext.addInitScript(() => {
    window.__notes = [];
    const Real = window.Notification;
    class Recorded { constructor(title, options) { window.__notes.push({ title, body: options && options.body }); } }
    Recorded.permission = Real ? Real.permission : "granted";
    Recorded.requestPermission = () => Promise.resolve("granted");
    window.Notification = Recorded;
    document.hasFocus = () => false;
  });
  const operator = await consoleContext.newPage();
  watch(operator, "console");
  await operator.goto(`${story.hub}/console`);
  await operator.waitForSelector("#signin:not([hidden])");
  await axe(operator, "sign-in");
  await operator.fill("#email", story.email);
  await operator.fill("#password", story.password);
  await operator.click("#signin button[type=submit]");
  await operator.waitForSelector("#app:not([hidden])");

  // Three visitors wrote: three rows, told apart by name and preview, each with an unread mark.
  await operator.waitForFunction(() => document.querySelectorAll("#conversations button.row").length === 3, null, { timeout: 15000 });
  result.rows = await operator.$$eval("#conversations button.row", (rows) => rows.map((r) => ({
    name: r.querySelector(".row-name").textContent,
    preview: r.querySelector(".row-preview").textContent,
    unread: r.querySelector(".badge") ? r.querySelector(".badge").textContent : "",
  })));
  await axe(operator, "inbox");

  // Opening Ana's conversation clears its unread mark.
  await operator.click("#conversations button.row:has-text('Ana')");
  await operator.waitForSelector("#messages li:has-text('Where is my parcel?')");
  await operator.waitForFunction(() => {
    const row = [...document.querySelectorAll("#conversations button.row")].find((r) => r.textContent.includes("Ana"));
    return row && !row.querySelector(".badge");
  }, null, { timeout: 10000 });
  result.unread_cleared = true;
  await axe(operator, "conversation");
  await operator.screenshot({ path: `${story.screenshots}/console-laptop-light.png` });
  await operator.emulateMedia({ colorScheme: "dark" });
  await operator.screenshot({ path: `${story.screenshots}/console-laptop-dark.png` });
  await operator.setViewportSize({ width: 390, height: 844 });
  await operator.screenshot({ path: `${story.screenshots}/console-phone-dark.png` });
  await operator.emulateMedia({ colorScheme: "light" });
  await operator.screenshot({ path: `${story.screenshots}/console-phone-light.png` });
  await operator.setViewportSize({ width: 1280, height: 800 });

  // A fourth visitor opens the shop's German widget.
  const visitor = await (await browser.newContext({ locale: "en-US" })).newPage();
  watch(visitor, "widget");
  await visitor.goto(story.page);
  await visitor.waitForSelector("#omnibridge-bubble");
  result.bubble_text = await visitor.textContent("#omnibridge-bubble");
  result.bubble_colour = await visitor.$eval("#omnibridge-bubble", (b) => getComputedStyle(b).backgroundColor);
  await visitor.click("#omnibridge-bubble");
  result.header = await visitor.textContent("#omnibridge-head h2");
  result.presence = await visitor.textContent("#omnibridge-presence");
  // The name is required before the chat starts.
  await visitor.fill("#omnibridge-input", "Hallo, ist das Brot frisch?");
  await visitor.press("#omnibridge-input", "Enter");
  await visitor.waitForSelector("#omnibridge-status:has-text('Pflichtfeld')");
  result.prechat_refusal = await visitor.textContent("#omnibridge-status");
  result.sent_without_name = await visitor.$$eval("#omnibridge-log li.omnibridge-in", (l) => l.length);
  await visitor.fill("#omnibridge-name", "Dora");
  await visitor.fill("#omnibridge-input", "Hallo, ist das Brot frisch?");
  await visitor.press("#omnibridge-input", "Enter");
  await visitor.waitForSelector("#omnibridge-log li:has-text('Hallo, ist das Brot frisch?')");
  // A picture of the bread, then a program, which is refused in words.
  await visitor.setInputFiles("#omnibridge-file", { name: "brot.png", mimeType: "image/png", buffer: PNG });
  await visitor.waitForSelector("#omnibridge-log li:has-text('brot.png')");
  await visitor.setInputFiles("#omnibridge-file", { name: "tool.exe", mimeType: "application/octet-stream", buffer: Buffer.from("MZ") });
  await visitor.waitForSelector("#omnibridge-status:has-text('tool.exe')");
  result.forbidden = await visitor.textContent("#omnibridge-status");
  await axe(visitor, "widget", "#omnibridge-root");
  await visitor.screenshot({ path: `${story.screenshots}/widget-open.png` });

  // The console raised a notification for the new conversation; the picture shows inline.
  await operator.waitForFunction(() => window.__notes.some((n) => n.title === "New conversation"), null, { timeout: 15000 });
  result.notifications = await operator.evaluate(() => window.__notes.length);
  result.title = await operator.title();
  await operator.click("#conversations button.row:has-text('Dora')");
  await operator.waitForSelector("#messages img.attachment-image");
  await operator.waitForFunction(() => { const i = document.querySelector("#messages img.attachment-image"); return i && i.complete && i.naturalWidth === 8; });
  result.image_shown = true;
  // The reply reaches the open widget: delivered.
  await operator.fill("#reply-text", "Ja, heute Morgen gebacken!");
  await operator.click("#reply button[type=submit]");
  await visitor.waitForSelector("#omnibridge-log li:has-text('heute Morgen gebacken')");
  result.reply_author = await visitor.textContent("#omnibridge-log li:has-text('heute Morgen gebacken') .ob-who");
  // Dora writes again while the operator looks: a "New messages" line.
  await visitor.fill("#omnibridge-input", "Super, ich komme vorbei.");
  await visitor.press("#omnibridge-input", "Enter");
  await operator.waitForSelector("#messages li.new-marker + li:has-text('ich komme vorbei')", { timeout: 15000 });
  result.new_marker = true;
  await operator.waitForSelector("#messages li:has-text('heute Morgen gebacken')[data-status=delivered]", { timeout: 15000 });
  result.reply_status = await operator.getAttribute("#messages li:has-text('heute Morgen gebacken')", "data-status");

  // Dora is Ana: found by typing Ana's email, merged.
  await operator.fill("#merge-search", "ana@example.com");
  await operator.click("#merge-form button[type=submit]");
  await operator.waitForSelector("#merge-results li:has-text('Ana')");
  await operator.click("#merge-results li:has-text('Ana') button");
  await operator.waitForSelector("#merges li:has-text('Merged')", { timeout: 10000 });
  result.merged = await operator.textContent("#merges li");

  // Sorting the inbox. Olga defines a label and a conversation attribute in the console.
  await operator.fill("#label-name", "Bread questions");
  await operator.click("#new-label button[type=submit]");
  await operator.waitForSelector("#label-admin li:has-text('Bread questions')");
  await operator.selectOption("#attr-applies", "conversation");
  await operator.fill("#attr-key", "order_total");
  await operator.fill("#attr-name", "Order total");
  await operator.selectOption("#attr-type", "number");
  await operator.click("#new-attribute button[type=submit]");
  await operator.waitForSelector("#attribute-admin li:has-text('order_total')");
  // The integration's webhook endpoint: Olga sends it a test event and sees it arrive.
  const hook = `#webhook-endpoints tr:has-text('${story.webhook}')`;
  await operator.waitForSelector(hook);
  await operator.click(`${hook} button:has-text('Send test event')`);
  await operator.waitForSelector(`${hook} output:has-text('Delivered')`, { timeout: 15000 });
  result.test_event = (await operator.textContent(`${hook} output`)).trim();
  // She ticks Ben's and Chloé's rows and labels both at once.
  await operator.check("#conversations li:has-text('Ben') input.row-select");
  await operator.check("#conversations li:has-text('Chloé') input.row-select");
  result.bulk_count = await operator.textContent("#bulk-count");
  await operator.selectOption("#bulk-label", { label: "Bread questions" });
  await operator.click("#bulk-apply");
  await operator.waitForFunction(() => [...document.querySelectorAll("#conversations button.row .row-labels")].filter((l) => l.textContent.includes("Bread questions")).length === 2, null, { timeout: 10000 });
  result.labelled_rows = await operator.$$eval("#conversations button.row", (rows) => rows.filter((r) => r.querySelector(".row-labels")).map((r) => r.querySelector(".row-name").textContent).sort());
  await operator.click("#bulk-clear");
  // The label as a filter: a chip says so, two rows remain; saved as a view.
  await operator.click("#filter-panel summary");
  await operator.selectOption("#f-label", { label: "Bread questions" });
  await operator.waitForSelector("#filter-chips li:has-text('Label: Bread questions')");
  await operator.waitForFunction(() => document.querySelectorAll("#conversations button.row").length === 2, null, { timeout: 10000 });
  result.chips = await operator.$$eval("#filter-chips li span", (s) => s.map((x) => x.textContent));
  await operator.fill("#view-name", "Bread");
  await operator.click("#save-view button[type=submit]");
  await operator.waitForSelector("#view-list button.view[aria-current=true]:has-text('Bread')");
  await operator.click("#filter-chips li button");
  await operator.waitForFunction(() => document.querySelectorAll("#conversations button.row").length > 2, null, { timeout: 10000 });
  result.rows_unfiltered = await operator.$$eval("#conversations button.row", (r) => r.length);
  await operator.click("#view-list button.view:has-text('Bread')");
  await operator.waitForFunction(() => document.querySelectorAll("#conversations button.row").length === 2, null, { timeout: 10000 });
  result.rows_in_view = await operator.$$eval("#conversations button.row .row-name", (r) => r.map((x) => x.textContent).sort());
  await axe(operator, "organize");
  await operator.screenshot({ path: `${story.screenshots}/console-view.png` });
  // In Ben's conversation: the label is there, and the order total takes only a number.
  await operator.click("#conversations button.row:has-text('Ben')");
  await operator.waitForSelector("#conversation-labels li:has-text('Bread questions')");
  await operator.click("#conversation-attributes-panel summary");
  await operator.fill("#conversation-attr-order_total", "zwölf");
  await operator.click("#conversation-attributes button[type=submit]");
  await operator.waitForSelector("#alert:has-text('order_total')");
  result.attribute_refusal = await operator.textContent("#alert");
  await operator.fill("#conversation-attr-order_total", "12.50");
  await operator.click("#conversation-attributes button[type=submit]");
  await operator.waitForSelector("#alert.ok:has-text('Saved')");
  await operator.waitForFunction(() => document.querySelector("#conversation-attr-order_total").value === "12.5", null, { timeout: 10000 });
  result.attribute_shown = await operator.inputValue("#conversation-attr-order_total");
  await operator.click("#view-list button.view:has-text('All conversations')");
  await operator.waitForFunction(() => document.querySelectorAll("#conversations button.row").length > 2, null, { timeout: 10000 });
  // Search as she types, from the keyboard: "/" focuses the box, arrows reach the results.
  await operator.click("#conversation-title");
  await operator.keyboard.press("/");
  result.search_focus = await operator.evaluate(() => document.activeElement.id);
  await operator.keyboard.type("parcel");
  await operator.waitForSelector("#search-results button.hit mark", { timeout: 10000 });
  result.search_marks = await operator.$$eval("#search-results button.hit mark", (m) => m.map((x) => x.textContent));
  result.inbox_hidden_while_searching = await operator.$eval("#conversations", (o) => o.hidden);
  await axe(operator, "search");
  await operator.keyboard.press("ArrowDown");
  result.search_arrow = await operator.evaluate(() => document.activeElement.className);
  await operator.keyboard.press("Enter");
  await operator.waitForSelector("#messages li:has-text('Where is my parcel?')");
  result.search_opened = true;
  await operator.fill("#search-q", "glut");
  await operator.waitForSelector("#search-results button.hit:has-text('gluten')", { timeout: 10000 });
  result.prefix_found = await operator.textContent("#search-results button.hit .hit-excerpt");
  await operator.press("#search-q", "Escape");
  await operator.waitForFunction(() => !document.querySelector("#conversations").hidden && document.querySelector("#search-results").hidden);
  result.search_left = true;

  // A visitor with only a keyboard: Tab to the bubble, Enter, type, Enter.
  const keyboard = await (await browser.newContext()).newPage();
  watch(keyboard, "keyboard widget");
  await keyboard.goto(story.page);
  await keyboard.waitForSelector("#omnibridge-bubble");
  for (let i = 0; i < 10 && await keyboard.evaluate(() => document.activeElement && document.activeElement.id) !== "omnibridge-bubble"; i++) {
    await keyboard.keyboard.press("Tab");
  }
  await keyboard.keyboard.press("Enter");
  await keyboard.waitForSelector("#omnibridge-widget:not([hidden])");
  result.keyboard_focus = await keyboard.evaluate(() => document.activeElement.id);
  await keyboard.keyboard.type("Erik");
  await keyboard.keyboard.press("Tab");
  result.keyboard_next = await keyboard.evaluate(() => document.activeElement.id);
  await keyboard.keyboard.type("Nur mit der Tastatur");
  await keyboard.keyboard.press("Enter");
  await keyboard.waitForSelector("#omnibridge-log li:has-text('Nur mit der Tastatur')");
  result.keyboard_sent = true;
} catch (e) {
  result.failure = String(e && e.stack || e);
}
await finish(browser, result, errors);
})();
