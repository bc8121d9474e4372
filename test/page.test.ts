/**
 * The live page in a real browser: Chromium (the system's, or the one the npm package
 * `@sparticuz/chromium` ships; see scripts/chromium.mjs), driven by playwright-core, against the
 * Node server on loopback with the offline model. Start fills all four panels and lights the
 * graph; Stop ends the stream and every model request; a topic full of HTML stays text.
 * Saves test-results/page.png.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { serve } from "./serve.ts";
import { launchChromium } from "./browser.ts";
import { createApp } from "../routes/app.ts";
import { countedModel, eventually } from "./http_helpers.ts";

const ONLY = {
  only: ["node"] as "node"[],
  why: "drives Chromium through playwright-core, a Node library",
  timeout: 90_000,
};

// deno-lint-ignore no-explicit-any
type Page = any;

async function withPage(
  options: Parameters<typeof countedModel>[0],
  fn: (page: Page, url: string, model: ReturnType<typeof countedModel>) => Promise<void>,
): Promise<void> {
  const browser = await launchChromium();
  const m = countedModel(options);
  const app = createApp({ llm: { fetch: m.fetch } });
  const served = await serve(async (req) => await app.fetch(req));
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e: Error) => errors.push(e.message));
    await page.goto(`${served.url}/`);
    await fn(page, served.url, m);
    assert.deepEqual(errors, [], "no script errors on the page");
  } finally {
    await browser.close();
    await served.close();
  }
}

const panelText = (page: Page, role: string): Promise<string> =>
  page.locator(`#panel-${role} .body`).textContent();

test("page: Start fills the four panels live and lights the graph", async () => {
  await withPage({ tokenDelayMs: 4, firstTokenDelayMs: 30 }, async (page) => {
    await page.fill("#topic", "the history of zero");
    await page.click("#go");
    // While it runs: a node is lit and the button has become Stop.
    await page.waitForSelector('.node[data-state="running"]');
    assert.equal(await page.textContent("#go"), "Stop");
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "done");
    for (const role of ["facts", "stats", "quotes", "answer"]) {
      const text = await panelText(page, role);
      assert.ok(text.length > 40, `${role} panel filled: ${JSON.stringify(text)}`);
    }
    assert.match(await panelText(page, "answer"), /zero/i);
    const states = await page.$$eval(
      ".node",
      (nodes: Element[]) => nodes.map((n) => `${n.id}:${n.getAttribute("data-state")}`),
    );
    assert.deepEqual(states.sort(), [
      "node-factual:done",
      "node-logger:done",
      "node-quoter:done",
      "node-sink:done",
      "node-statistician:done",
      "node-synth:done",
    ]);
    assert.equal(await page.textContent("#go"), "Start");
    assert.equal(await page.isHidden("#error"), true);
    const { mkdir } = await import("node:fs/promises");
    await mkdir(new URL("../test-results/", import.meta.url), { recursive: true });
    await page.screenshot({
      path: new URL("../test-results/page.png", import.meta.url).pathname,
      fullPage: true,
    });
  });
}, ONLY);

test("page: Stop mid-stream ends the stream and every model request", async () => {
  await withPage({ tokenDelayMs: 60, firstTokenDelayMs: 30 }, async (page, _url, m) => {
    await page.fill("#topic", "zero");
    await page.click("#go");
    await page.waitForFunction(() =>
      (document.querySelector("#panel-facts .body")?.textContent ?? "").length > 10
    );
    const open = m.model.stats.active;
    assert.ok(open >= 1, `streaming: ${JSON.stringify(m.model.stats)}`);
    await page.click("#go"); // Stop
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "stopped");
    assert.equal(await page.textContent("#go"), "Start");
    await eventually(() => m.model.stats.active === 0, "every model request ended");
    assert.equal(m.model.stats.aborted, open);
    assert.equal(m.model.stats.completed, 0);
    // What arrived stays; nothing more arrives.
    const facts = await panelText(page, "facts");
    assert.ok(facts.length > 10);
  });
}, ONLY);

test("page: HTML in the topic and in the model's words is shown as text", async () => {
  await withPage({}, async (page) => {
    const topic =
      `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script><b>bold</b>`;
    await page.fill("#topic", topic);
    await page.click("#go");
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "done");
    // The offline model repeats the topic: the markup must appear as characters, not elements.
    assert.ok((await panelText(page, "facts")).includes("<b>bold</b>"));
    assert.equal(await page.locator(".panel img, .panel script, .panel b").count(), 0);
    assert.equal(
      await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned),
      undefined,
    );
  });
}, ONLY);

test("page: an error is shown clearly (a 401 without the token)", async () => {
  const browser = await launchChromium();
  const m = countedModel();
  const app = createApp({ llm: { fetch: m.fetch }, token: "page-token" });
  const served = await serve(async (req) => await app.fetch(req));
  try {
    const page = await browser.newPage();
    await page.goto(`${served.url}/`);
    await page.fill("#topic", "zero");
    await page.click("#go");
    await page.waitForSelector("#error:not([hidden])");
    assert.match((await page.textContent("#error")) ?? "", /unauthorized/);
    await page.fill("#token", "page-token");
    await page.click("#go");
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "done");
    assert.equal(await page.isHidden("#error"), true);
  } finally {
    await browser.close();
    await served.close();
  }
}, ONLY);
