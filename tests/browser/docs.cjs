// The API description as a person reads it at /docs, in headless Chromium: every documented
// operation listed by tag, a search that narrows them, an operation opened to its parameters and
// response outline; axe-core checks the page. Run by the Rust test `browser::the_api_description…`
// with OMNIBRIDGE_BROWSER_STORY (JSON); prints one JSON line with what happened.
"use strict";
const { run, seriousViolations } = require("./common.cjs");

run([], async ({ browser, story, watch, result }) => {
  const page = await (await browser.newContext()).newPage();
  watch(page, "docs");
  await page.goto(`${story.hub}/docs`);
  await page.waitForSelector("details.op");
  result.title = await page.textContent("#title");
  result.operations = await page.$$eval("details.op", (d) => d.length);
  result.tags = await page.$$eval("#tags li", (l) => l.map((x) => x.textContent));
  await page.fill("#filter", "tenant/exports");
  await page.waitForFunction(() => [...document.querySelectorAll("details.op")].filter((d) => !d.hidden).length === 3);
  result.filtered = await page.$$eval("details.op:not([hidden]) .path", (p) => p.map((x) => x.textContent));
  await page.click("details.op:not([hidden]) summary:has-text('POST')");
  result.request_outline = await page.textContent("details.op[open] pre");
  result.responses = await page.$$eval("details.op[open] dt", (d) => d.map((x) => x.textContent));
  result.axe = await seriousViolations(page);
});
