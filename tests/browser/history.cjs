// A returning visitor with a long conversation, in headless Chromium: the widget shows the
// latest page, and "Earlier messages" brings the ones before it above them, in order, until
// there are none. Run by the Rust test `browser::a_returning_visitor_pages_back_through_a_long_history`.
"use strict";
const { run } = require("./common.cjs");

const texts = (page) => page.$$eval("#omnibridge-log li.omnibridge-msg .ob-text", (l) => l.map((x) => x.textContent));

run([], async ({ browser, story, watch, result }) => {
  // The visitor's token is where the widget keeps it, as after an earlier visit.
  const context = await browser.newContext({ locale: "en-US" });
  await context.addInitScript(([key, token]) => localStorage.setItem(key, token), [`omnibridge:${story.channel}`, story.token]);
  const visitor = await context.newPage();
  watch(visitor, "widget");
  await visitor.goto(story.page);
  await visitor.click("#omnibridge-bubble");
  await visitor.waitForSelector("#omnibridge-earlier button");
  result.first_page = await texts(visitor);
  result.button = await visitor.textContent("#omnibridge-earlier button");
  let clicks = 0;
  while (await visitor.$("#omnibridge-earlier button")) {
    const shown = (await texts(visitor)).length;
    await visitor.click("#omnibridge-earlier button");
    await visitor.waitForFunction((n) => document.querySelectorAll("#omnibridge-log li.omnibridge-msg .ob-text").length > n, shown);
    clicks += 1;
    if (clicks > 10) throw new Error("the earlier pages never end");
  }
  result.clicks = clicks;
  result.all = await texts(visitor);
});
