// What every browser story shares: the headless Chromium it drives, and a watch on each page's
// console that collects script errors (and failed requests other than the answers the pages
// handle on purpose, whose statuses `expected` lists).
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

module.exports = { launch, watcher };
