/**
 * The live page shows what issue 9 adds, in a real browser (Chromium through playwright-core,
 * against the Node server with the offline model as a thinking model): each agent's reasoning
 * apart from its answer (dimmed, collapsible, under its panel; a checkbox hides it), a marker on
 * an answer cut at the token limit, tokens per agent and for the run.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { serve } from "./serve.ts";
import { launchChromium } from "./browser.ts";
import { createApp } from "../routes/app.ts";
import { countedModel } from "./http_helpers.ts";
import { offlineReasoning } from "../src/llm/offline_text.ts";

const ONLY = {
  only: ["node"] as "node"[],
  why: "drives Chromium through playwright-core, a Node library",
  timeout: 90_000,
};
const TOPIC = "the history of zero";

test(
  "page: reasoning dimmed and collapsible under each panel, a stop marker, token counts",
  async () => {
    const browser = await launchChromium();
    const m = countedModel({
      reasoning: "reasoning",
      tokenDelayMs: 1,
      fault: { stopAfterTokens: 4, roles: ["stats"] },
    });
    const app = createApp({ llm: { fetch: m.fetch } });
    const served = await serve(async (req) => await app.fetch(req));
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
      const errors: string[] = [];
      page.on("pageerror", (e: Error) => errors.push(e.message));
      await page.goto(`${served.url}/`);
      await page.fill("#topic", TOPIC);
      await page.click("#go");
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "done", {
        timeout: 60_000,
      });
      for (const role of ["facts", "stats", "quotes"]) {
        const thoughts = await page.locator(`#panel-${role} .reasoning .thoughts`).textContent();
        assert.equal(thoughts, offlineReasoning(role, TOPIC, `Topic: ${TOPIC}`), role);
        const body: string = (await page.locator(`#panel-${role} .body`).textContent()) ?? "";
        assert.ok(!body.includes("The user wants"), `${role}: no reasoning in the answer`);
        assert.match(
          (await page.locator(`#panel-${role} .usage`).textContent()) ?? "",
          /^\d[\d,]* tokens \(\d[\d,]* in, \d[\d,]* out, \d[\d,]* reasoning\)$/,
        );
      }
      // Dimmed: the reasoning is lighter than the answer.
      const opacity = await page.locator("#panel-facts .reasoning").evaluate((el: Element) =>
        Number(getComputedStyle(el).opacity)
      );
      assert.ok(opacity < 1, `opacity ${opacity}`);
      // Collapsible: folded once the answer came; a click opens it.
      const box = page.locator("#panel-facts .reasoning");
      assert.equal(await box.evaluate((el: HTMLDetailsElement) => el.open), false);
      await page.click("#panel-facts .reasoning summary");
      assert.equal(await box.evaluate((el: HTMLDetailsElement) => el.open), true);
      assert.ok(await page.locator("#panel-facts .reasoning .thoughts").isVisible());
      // The stats answer was cut at 4 tokens: marked; the others are not.
      assert.equal(
        await page.locator("#panel-stats .stopped").textContent(),
        "cut at the token limit (length)",
      );
      assert.ok(await page.locator("#panel-stats .stopped").isVisible());
      assert.equal(await page.locator("#panel-facts .stopped").isVisible(), false);
      assert.match(
        await page.locator("#usage").textContent() ?? "",
        /^This run used \d[\d,]* tokens \(/,
      );
      // The option hides every reasoning box.
      await page.uncheck("#show-reasoning");
      assert.equal(await page.locator("#panel-facts .reasoning").isVisible(), false);
      await page.check("#show-reasoning");
      assert.ok(await page.locator("#panel-facts .reasoning").isVisible());
      await page.screenshot({ path: "test-results/page-reasoning.png", fullPage: true });
      assert.deepEqual(errors, [], "no script errors on the page");
    } finally {
      await browser.close();
      await served.close();
    }
  },
  ONLY,
);
