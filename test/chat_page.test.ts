/**
 * The `useChat` example (examples/chat/app.tsx: React and `@ai-sdk/react`, bundled with esbuild
 * here, nothing fetched from outside) in Chromium against the real app on loopback with the
 * offline model: the four agents and the answer stream into one assistant message, and Stop
 * aborts the flow and every model request. Saves test-results/chat-page.png.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { serve } from "./serve.ts";
import { launchChromium } from "./browser.ts";
import { createApp } from "../routes/app.ts";
import { createOfflineModel, type OfflineModelOptions } from "../src/llm/mod.ts";
import { researchEvents } from "../src/research/mod.ts";
import { eventually } from "./http_helpers.ts";

const ONLY = {
  only: ["node"] as "node"[],
  why: "drives Chromium through playwright-core, a Node library, and bundles with esbuild",
  timeout: 120_000,
};

const ROLES = ["facts", "stats", "quotes", "answer"];

// deno-lint-ignore no-explicit-any
type Page = any;

/** The example page and the app on one loopback port; every model request's end is awaited. */
async function onChatPage(
  options: OfflineModelOptions,
  fn: (
    page: Page,
    model: ReturnType<typeof createOfflineModel>,
    ended: Promise<void>[],
  ) => Promise<void>,
): Promise<void> {
  // esbuild (a Node binary) bundles the page: imported here, so the file loads on every runtime.
  const { buildChatPage, withChatPage } = await import("../examples/chat/page.ts");
  const ended: Promise<void>[] = [];
  const model = createOfflineModel({ ...options, onRequest: (info) => ended.push(info.ended) });
  const app = createApp({ llm: { fetch: model.fetch } });
  const served = await serve(withChatPage(app, await buildChatPage()));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    const errors: string[] = [];
    page.on("pageerror", (e: Error) => errors.push(e.message));
    // Nothing but the page's own origin is ever asked for.
    const origins = new Set<string>();
    page.on("request", (r: { url(): string }) => origins.add(new URL(r.url()).origin));
    await page.goto(`${served.url}/`);
    await fn(page, model, ended);
    assert.deepEqual(errors, [], "no script errors on the page");
    assert.deepEqual([...origins], [served.url]);
  } finally {
    await browser.close();
    await served.close();
  }
}

/** The flow's four streams for `topic`, read straight from its event stream. */
async function expectedStreams(topic: string): Promise<Record<string, string>> {
  const texts: Record<string, string> = {};
  const events = researchEvents(topic, { llm: { fetch: createOfflineModel().fetch } });
  for await (const e of events) {
    if (e.event === "chunk") texts[e.role] = (texts[e.role] ?? "") + e.text;
  }
  return texts;
}

/** `[role, text]` of each agent section of the assistant message, in page order. */
const sections = (page: Page): Promise<[string, string][]> =>
  page.$$eval(
    "article.assistant section",
    (nodes: Element[]) =>
      nodes.map((
        n,
      ) => [n.getAttribute("data-role") ?? "", n.querySelector("p")?.textContent ?? ""]),
  );

test("chat page: useChat shows the four agents and the answer as they stream", async () => {
  const topic = "the history of zero";
  const expected = await expectedStreams(topic);
  assert.deepEqual(Object.keys(expected), ROLES);
  await onChatPage({ tokenDelayMs: 6, firstTokenDelayMs: 30 }, async (page) => {
    await page.fill("#topic", topic);
    await page.click("#send");
    // While the flow runs, the three specialists' parts fill side by side in one message.
    await page.waitForFunction(() =>
      document.getElementById("status")?.textContent === "streaming" &&
      [...document.querySelectorAll("article.assistant section p")]
          .filter((p) => (p.textContent ?? "").length > 0).length >= 3
    );
    const live = await sections(page);
    assert.deepEqual(live.slice(0, 3).map(([role]) => role), ["facts", "stats", "quotes"]);
    assert.equal(await page.isVisible("#stop"), true);
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    assert.equal(await page.locator("article.assistant").count(), 1, "one assistant message");
    const done = await sections(page);
    assert.deepEqual(done, ROLES.map((role) => [role, expected[role]]));
    assert.equal(await page.textContent("article.user section p"), topic);
    assert.equal(await page.isVisible("#error"), false);
    const { mkdir } = await import("node:fs/promises");
    await mkdir(new URL("../test-results/", import.meta.url), { recursive: true });
    await page.screenshot({
      path: new URL("../test-results/chat-page.png", import.meta.url).pathname,
      fullPage: true,
    });
  });
}, ONLY);

test("chat page: Stop aborts the flow and every model request", async () => {
  await onChatPage({ tokenDelayMs: 60, firstTokenDelayMs: 30 }, async (page, model, ended) => {
    await page.fill("#topic", "zero");
    await page.click("#send");
    await page.waitForFunction(() =>
      (document.querySelector('section[data-role="facts"] p')?.textContent ?? "").length > 10
    );
    const open = model.stats.active;
    assert.ok(open >= 3, `the three specialists are streaming: ${JSON.stringify(model.stats)}`);
    await page.click("#stop");
    await page.waitForFunction(() => document.getElementById("status")?.textContent === "ready");
    // Every request the model saw has ended, as aborted by its client: none ran on.
    await eventually(() => model.stats.active === 0, "every model request ended");
    await Promise.all(ended);
    assert.equal(model.stats.aborted, open);
    assert.equal(model.stats.started, open, "no request started after Stop");
    assert.equal(model.stats.completed, 0);
    // What arrived stays; nothing more arrives.
    const facts = await page.textContent('section[data-role="facts"] p');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await page.textContent('section[data-role="facts"] p'), facts);
  });
}, ONLY);

test("chat page: a failing flow shows useChat's error", async () => {
  await onChatPage(
    { fault: { status: 500, roles: ["quotes"] }, tokenDelayMs: 2 },
    async (page) => {
      await page.fill("#topic", "zero");
      await page.click("#send");
      await page.waitForSelector("#error");
      assert.match(await page.textContent("#error"), /quoter/);
      assert.equal(await page.textContent("#status"), "error");
    },
  );
}, ONLY);
