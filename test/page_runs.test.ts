/**
 * The live page and runs, in a real browser (Chromium through playwright-core) against the Node
 * server on loopback: when the connection drops mid-run (the server cuts the response), the page
 * shows "reconnecting…", resumes with Last-Event-ID and ends with exactly the run's text, no gap
 * and no duplicate; a "share" link opens the same run, live, in another tab (with a signed
 * `?token=` when the server wants a bearer token).
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { serve } from "./serve.ts";
import { launchChromium } from "./browser.ts";
import { createApp } from "../routes/app.ts";
import { countedModel } from "./http_helpers.ts";
import { MARKDOWN_SCRIPT } from "../routes/markdown.ts";

const ONLY = {
  only: ["node"] as "node"[],
  why: "drives Chromium through playwright-core, a Node library",
  timeout: 90_000,
};

// deno-lint-ignore no-explicit-any
type Page = any;

/**
 * What each panel must show: the role's text in the run's log, in order, rendered by the page's
 * own Markdown renderer (loaded into the page beside it).
 */
async function expectedPanels(
  page: Page,
  app: ReturnType<typeof createApp>,
  id: string,
  token?: string,
) {
  const res = await app.request(`/runs/${id}/events`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  const raw: Record<string, string> = { facts: "", stats: "", quotes: "", answer: "" };
  for (const m of (await res.text()).matchAll(/^event: chunk\ndata: (.*)$/gm)) {
    const { role, text } = JSON.parse(m[1]);
    raw[role] += text;
  }
  await page.addScriptTag({ content: MARKDOWN_SCRIPT });
  return await page.evaluate((raw: Record<string, string>) => {
    const out: Record<string, string> = {};
    for (const [role, text] of Object.entries(raw)) {
      const div = document.createElement("div");
      // deno-lint-ignore no-explicit-any
      div.appendChild((globalThis as any).renderMarkdown(text, document));
      out[role] = div.textContent ?? "";
    }
    return out;
  }, raw);
}

const panels = (page: Page): Promise<Record<string, string>> =>
  page.evaluate(() => {
    const out: Record<string, string> = {};
    for (const role of ["facts", "stats", "quotes", "answer"]) {
      out[role] = document.querySelector(`#panel-${role} .body`)!.textContent ?? "";
    }
    return out;
  });

/** Records every status the page shows, from now on. */
const recordStatuses = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as { statuses: string[] };
    w.statuses = [];
    const el = document.getElementById("status")!;
    new MutationObserver(() => w.statuses.push(el.textContent ?? "")).observe(el, {
      childList: true,
      characterData: true,
      subtree: true,
    });
  });

const shareId = async (page: Page): Promise<string> =>
  /[?&]run=([0-9a-f-]{36})/.exec(await page.getAttribute("#share", "href"))![1];

test(
  "page: a dropped connection reconnects by itself and continues with no gap and no duplicate",
  async () => {
    const m = countedModel({ tokenDelayMs: 10, firstTokenDelayMs: 20 });
    const app = createApp({ llm: { fetch: m.fetch } });
    // The server cuts the run's stream twice: the POST's response, then the first reconnection.
    let cuts = 0;
    const served = await serve(async (req) => {
      const res = await app.fetch(req);
      const path = new URL(req.url).pathname;
      if (!res.body || !/^\/runs(\/[^/]+\/events)?$/.test(path) || cuts >= 2) return res;
      cuts++;
      let chunks = 0;
      const cut = new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          if (++chunks > 25) controller.error(new Error("the network went away"));
          else controller.enqueue(chunk);
        },
      });
      return new Response(res.body.pipeThrough(cut), { status: res.status, headers: res.headers });
    });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e: Error) => errors.push(e.message));
      await page.goto(`${served.url}/`);
      await recordStatuses(page);
      await page.fill("#topic", "the history of zero");
      await page.click("#go");
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "done");
      const statuses: string[] = await page.evaluate(() =>
        (window as unknown as { statuses: string[] }).statuses
      );
      assert.equal(cuts, 2);
      assert.equal(statuses.filter((s) => s === "reconnecting…").length, 2, statuses.join(" → "));
      assert.equal(statuses.at(-1), "done");
      const id = await shareId(page);
      assert.deepEqual(await panels(page), await expectedPanels(page, app, id));
      assert.equal(await page.isHidden("#error"), true);
      assert.equal(m.model.stats.completed, 4, "the run went on through the drops");
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await served.close();
    }
  },
  ONLY,
);

test(
  "page: the share link opens the same run, live, in another tab (with a signed token)",
  async () => {
    const TOKEN = "page-share-token";
    const m = countedModel({ tokenDelayMs: 25, firstTokenDelayMs: 20 });
    const app = createApp({ llm: { fetch: m.fetch }, token: TOKEN });
    const served = await serve(async (req) => await app.fetch(req));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`${served.url}/`);
      await page.fill("#topic", "zero");
      await page.fill("#token", TOKEN);
      await page.click("#go");
      await page.waitForSelector("#share:not([hidden])");
      const href: string = (await page.getAttribute("#share", "href")) ?? "";
      assert.match(href, /^\/\?run=[0-9a-f-]{36}&token=\d+\.[\w-]+$/);
      // The colleague's tab: no bearer token typed, only the link.
      const other = await browser.newPage();
      await other.goto(`${served.url}${href}`);
      await other.waitForFunction(() =>
        (document.querySelector("#panel-facts .body")?.textContent ?? "").length > 0
      );
      assert.notEqual(await page.textContent("#status"), "done", "joined while the run was live");
      assert.equal(await other.inputValue("#topic"), "zero", "the shared tab names the topic");
      for (const p of [page, other]) {
        await p.waitForFunction(() => document.getElementById("status")?.textContent === "done");
      }
      const expected = await expectedPanels(page, app, await shareId(page), TOKEN);
      assert.deepEqual(await panels(other), expected);
      assert.deepEqual(await panels(page), expected);
      assert.equal(m.model.stats.started, 4, "one run, watched twice");
    } finally {
      await browser.close();
      await served.close();
    }
  },
  ONLY,
);
