// What every browser story shares: the headless Chromium it drives, and a watch on each page's
// console that collects script errors (and failed requests other than the answers the pages
// handle on purpose, whose statuses `expected` lists), the accessibility check, and how a story ends.
"use strict";
const { chromium } = require("playwright-core"); // found through NODE_PATH

async function launch() {
  return chromium.launch({
    executablePath: process.env.OMNIBRIDGE_TEST_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}

function watcher(errors, expected) {
  const handled = new RegExp(`Failed to load resource: the server responded with a status of (${expected.join("|")}) `);
  return function watch(page, who) {
    page.on("console", (m) => { if (m.type() === "error" && !handled.test(m.text())) errors.push(`${who} console: ${m.text()}`); });
    page.on("pageerror", (e) => errors.push(`${who} page error: ${e.message}`));
  };
}

/* The serious and critical WCAG 2.1 AA violations axe-core finds on a page (or part of it). */
async function seriousViolations(page, include) {
  const { AxeBuilder } = require("@axe-core/playwright");
  let builder = new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]);
  if (include) builder = builder.include(include);
  const found = await builder.analyze();
  return found.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
}

/* Ends a story: closes the browser, prints what happened as one JSON line, and exits non-zero
   on a failure or a page error. */
async function finish(browser, result, errors) {
  await browser.close();
  result.errors = errors;
  console.log(JSON.stringify(result));
  process.exit(result.failure || errors.length ? 1 : 0);
}

/* Runs a story: `body` gets the browser, the story's JSON (OMNIBRIDGE_BROWSER_STORY), a watch
   for each page's console (answers with the statuses in `expected` are handled on purpose) and
   the result to fill in; a thrown error is the story's failure. */
async function run(expected, body) {
  const story = JSON.parse(process.env.OMNIBRIDGE_BROWSER_STORY);
  const errors = [];
  const browser = await launch();
  const result = {};
  try {
    await body({ browser, story, watch: watcher(errors, expected), result });
  } catch (e) {
    result.failure = String(e && e.stack || e);
  }
  await finish(browser, result, errors);
}

module.exports = { launch, watcher, seriousViolations, finish, run };
