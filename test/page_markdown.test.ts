/**
 * The live page renders the agents' Markdown (bullets, numbered lists, emphasis, code, quotes,
 * headings, links) in real Chromium, and nothing in the model's words becomes markup or script:
 * `javascript:`/`data:` links stay text, raw HTML blocks show as text, images are never loaded.
 * The model here is an OpenAI-compatible stream (chat.completion.chunk frames, as OpenAI and
 * Ollama send them) that answers each agent with a fixed Markdown text, streamed in small pieces
 * so the Markdown arrives split mid-token, as a real model's does.
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { serve } from "./serve.ts";
import { launchChromium } from "./browser.ts";
import { createApp } from "../routes/app.ts";

const ONLY = {
  only: ["node"] as "node"[],
  why: "drives Chromium through playwright-core, a Node library",
  timeout: 90_000,
};

/** A model that answers each agent (told apart by its system prompt) with `replies[role]`. */
function markdownModel(replies: Record<string, string>) {
  const encoder = new TextEncoder();
  const frame = (delta: Record<string, unknown>, finish: string | null) =>
    `data: ${
      JSON.stringify({
        id: "md",
        object: "chat.completion.chunk",
        created: 0,
        model: "markdown-test",
        choices: [{ index: 0, delta, finish_reason: finish }],
      })
    }\n\n`;
  return (_input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const body = JSON.parse(String(init?.body));
    const system = body.messages[0].content as string;
    const role = /factual/.test(system)
      ? "facts"
      : /statistician/.test(system)
      ? "stats"
      : /quote/.test(system)
      ? "quotes"
      : "answer";
    const text = replies[role];
    const pieces = text.match(/[\s\S]{1,5}/g) ?? [];
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(encoder.encode(frame({ role: "assistant", content: "" }, null)));
        for (const piece of pieces) {
          await new Promise((r) => setTimeout(r, 2));
          controller.enqueue(encoder.encode(frame({ content: piece }, null)));
        }
        controller.enqueue(encoder.encode(frame({}, "stop")));
        controller.enqueue(encoder.encode("data: [DONE]\n\n"));
        controller.close();
      },
    });
    return Promise.resolve(
      new Response(stream, { headers: { "content-type": "text/event-stream" } }),
    );
  };
}

test(
  "page: the agents' Markdown is rendered, and none of it can become markup or script",
  async () => {
    // A server that counts requests for an image the model mentions: it must never be asked.
    let pixelHits = 0;
    const pixel = await serve(() => {
      pixelHits++;
      return Promise.resolve(new Response("GIF89a", { headers: { "content-type": "image/gif" } }));
    });
    const replies = {
      facts: [
        "- **Bold** fact with *emphasis*, _underscores_ and `a <b>code</b> span`",
        "- a [safe link](https://example.com/zero) and snake_case_words",
        "- [bad link](javascript:window.__pwned=1), [Tab link](java\tscript:window.__pwned=5)",
        "  and [data link](data:text/html,<script>window.__pwned=2</script>)",
        "",
        '<div onclick="window.__pwned=3">a raw HTML block</div>',
        "<script>window.__pwned=4</script>",
      ].join("\n"),
      stats: `1. first number\n2. second, with ![a tracker](${pixel.url}/pixel.gif?leak=zero)\n`,
      quotes:
        "> To understand zero, start with the problem it solved.\n> — Ada Lindqvist\n\nAfter.",
      answer: "## The answer\n\nParagraph one.\n\n```\n<b>not bold</b> *not em*\n```\n",
    };
    const app = createApp({ llm: { fetch: markdownModel(replies) } });
    const served = await serve(async (req) => await app.fetch(req));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      const errors: string[] = [];
      page.on("pageerror", (e: Error) => errors.push(e.message));
      await page.goto(`${served.url}/`);
      await page.fill("#topic", "zero");
      await page.click("#go");
      await page.waitForFunction(() => document.getElementById("status")?.textContent === "done");
      const facts = page.locator("#panel-facts .body");
      // Bullets, emphasis, code.
      assert.equal(await facts.locator("ul > li").count(), 3);
      assert.equal(await facts.locator("li strong").textContent(), "Bold");
      assert.deepEqual(await facts.locator("li em").allTextContents(), ["emphasis", "underscores"]);
      assert.equal(await facts.locator("li code").textContent(), "a <b>code</b> span");
      assert.match(await facts.textContent() ?? "", /snake_case_words/);
      // Links: the safe one is a link that opens apart; the dangerous ones are only their text.
      const links = await facts.locator("a").evaluateAll((as: HTMLAnchorElement[]) =>
        as.map((a) => [a.textContent, a.href, a.rel, a.target])
      );
      assert.deepEqual(links, [[
        "safe link",
        "https://example.com/zero",
        "noopener noreferrer nofollow",
        "_blank",
      ]]);
      // (Those two are not even link syntax: a tab or `>` in the target; they stay as typed.)
      assert.match(await facts.textContent() ?? "", /bad link, .*Tab link.* and .*data link/);
      // Raw HTML is shown as what it is: characters.
      assert.match(
        await facts.textContent() ?? "",
        /<div onclick="window.__pwned=3">a raw HTML block<\/div>/,
      );
      assert.match(await facts.textContent() ?? "", /<script>window.__pwned=4<\/script>/);
      assert.equal(await page.locator(".panel .body :is(div, script, b, img, iframe)").count(), 0);
      // Numbered list; the image is a link named after it, never fetched.
      const stats = page.locator("#panel-stats .body");
      assert.equal(await stats.locator("ol > li").count(), 2);
      assert.equal(await stats.locator("a").textContent(), "image: a tracker");
      // Quotes and headings; a code block keeps its text as text.
      assert.match(
        await page.locator("#panel-quotes .body blockquote").textContent() ?? "",
        /To understand zero, start with the problem it solved\.— Ada Lindqvist/,
      );
      const answer = page.locator("#panel-answer .body");
      assert.equal(await answer.locator("h4").textContent(), "The answer");
      assert.equal(await answer.locator("pre code").textContent(), "<b>not bold</b> *not em*");
      // Nothing ran, nothing was fetched.
      assert.equal(
        await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned),
        undefined,
      );
      assert.equal(pixelHits, 0, "the image URL was never requested");
      assert.deepEqual(errors, [], "no script errors on the page");
      const { mkdir } = await import("node:fs/promises");
      await mkdir(new URL("../test-results/", import.meta.url), { recursive: true });
      await page.screenshot({
        path: new URL("../test-results/page-markdown.png", import.meta.url).pathname,
        fullPage: true,
      });
    } finally {
      await browser.close();
      await served.close();
      await pixel.close();
    }
  },
  ONLY,
);
