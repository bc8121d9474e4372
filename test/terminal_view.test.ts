/**
 * The live terminal view (cli/terminal_view.ts) as a renderer: frames fit the terminal, text is
 * word-wrapped, reasoning is dimmed, colour follows the option, model text cannot inject escape
 * sequences, and closing leaves the report (every agent, the tokens, then the answer) with the
 * cursor shown. The same view in a real terminal is test/terminal_tty.test.ts.
 */
import assert from "node:assert/strict";
import { share, TerminalView, type ViewEvent } from "../cli/terminal_view.ts";
import { test } from "./harness.ts";

// deno-lint-ignore no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;
const plain = (s: string) => s.replace(SGR, "");
const NODES = ["factual", "statistician", "quoter", "synth", "logger", "sink"];

function view(options: { columns?: number; rows?: number; color?: boolean } = {}) {
  const written: string[] = [];
  let t = 0;
  const v = new TerminalView({
    write: (text) => {
      written.push(text);
      return Promise.resolve();
    },
    size: () => ({ columns: options.columns ?? 40, rows: options.rows ?? 24 }),
    color: options.color ?? true,
    topic: "the history of zero",
    nodes: NODES,
    frameMs: 1,
    now: () => (t += 100),
  });
  return { v, written };
}

const feed = (v: TerminalView, events: ViewEvent[]) => events.forEach((e) => v.handle(e));
const chunk = (role: string, node: string, text: string): ViewEvent => ({
  event: "chunk",
  role,
  node,
  text,
});
const WORDS = "Zero began as a placeholder in Babylonian tablets and became a number in India. ";

test("terminal view: one pane per agent, word-wrapped to the width, node states", () => {
  const { v } = view({ columns: 44, color: false });
  feed(v, [
    { event: "node", id: "factual", state: "running" },
    { event: "node", id: "statistician", state: "running" },
    chunk("facts", "factual", WORDS),
    chunk("stats", "statistician", "Roughly 4 traditions."),
  ]);
  const lines = v.frame();
  assert.match(lines[0], /^reflow-edge · the history of zero {2}0\.\d s$/);
  const facts = lines.indexOf(lines.find((l) => l.startsWith("── facts · factual · running"))!);
  assert.ok(facts > 0, lines.join("\n"));
  // The node states, wrapped like any line.
  assert.match(
    lines.slice(1, facts).join(" "),
    /^◐ factual {2}◐ statistician {2}○ quoter {2}○ synth {2}○ logger {2}○ sink$/,
  );
  for (const line of lines) assert.ok(line.length <= 43, `too wide: ${JSON.stringify(line)}`);
  // Whole words: the text comes back when the wrapped lines are joined with spaces.
  const body = lines.slice(facts + 1, lines.findIndex((l) => l.startsWith("── stats")));
  assert.equal(body.join(" "), WORDS.trim());
  assert.ok(body.length >= 2);
  assert.ok(lines.includes("Roughly 4 traditions."));
});

test("terminal view: reasoning is dimmed, token counts show when known, colour can be off", () => {
  const { v } = view({ columns: 60 });
  feed(v, [
    { event: "node", id: "factual", state: "running" },
    { event: "reasoning", role: "facts", node: "factual", text: "thinking it over" },
    chunk("facts", "factual", "Zero is a number."),
    {
      event: "usage",
      scope: "agent",
      role: "facts",
      node: "factual",
      usage: { inputTokens: 10, outputTokens: 7, totalTokens: 17 },
    },
    { event: "node", id: "factual", state: "done" },
  ]);
  const text = v.frame().join("\n");
  // deno-lint-ignore no-control-regex
  assert.match(text, /\x1b\[2mthinking it over\x1b\[22m/);
  assert.match(plain(text), /── facts · factual · 7 tokens out /);
  assert.match(plain(text), /thinking it overZero is a number\./);

  const { v: mono } = view({ columns: 60, color: false });
  feed(mono, [
    { event: "node", id: "factual", state: "failed" },
    { event: "reasoning", role: "facts", node: "factual", text: "thinking" },
  ]);
  const monoText = mono.frame().join("\n");
  assert.doesNotMatch(monoText, SGR);
  assert.match(monoText, /✗ factual/);
});

test("terminal view: escape sequences and control characters in model text are dropped", () => {
  const { v } = view({ columns: 80, color: false });
  feed(v, [chunk("facts", "factual", "a\x1b[2J\x1b]0;pwned\x07b\rc\u009bd\te")]);
  const body = v.frame().join("\n");
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(body, /\x1b|\x07|\u009b/);
  assert.match(body, /a\[2J\]0;pwnedb\ncd {2}e/);
});

test("terminal view: a frame never outgrows the terminal; live panes get the room", () => {
  const { v } = view({ columns: 30, rows: 12, color: false });
  const long = WORDS.repeat(6);
  feed(v, [
    { event: "node", id: "factual", state: "done" },
    chunk("facts", "factual", long),
    chunk("stats", "statistician", long),
    { event: "node", id: "synth", state: "running" },
    chunk("answer", "synth", long + "THE END"),
  ]);
  const lines = v.frame();
  assert.ok(lines.length <= 11, `${lines.length} lines for 12 rows`);
  // The running synthesizer shows its latest lines; the finished facts pane only its last one.
  assert.match(lines.at(-1)!, /END$/);
  assert.match(lines[0], /^reflow-edge · the his… {2}\d\.\d s$/, "a long topic is shortened");
  const facts = lines.findIndex((l) => l.startsWith("── facts"));
  const stats = lines.findIndex((l) => l.startsWith("── stats"));
  assert.equal(stats - facts - 1, 1, lines.join("\n"));
  assert.deepEqual(share([5, 5], [true, true], 20), [5, 5]);
  assert.deepEqual(share([10, 10, 10], [false, true, true], 10), [1, 4, 5]);
  assert.deepEqual(share([4, 5, 4, 20], [false, false, false, true], 6), [1, 1, 1, 3]);
  assert.deepEqual(share([3, 20], [false, true], 30), [3, 20]);
  assert.deepEqual(share([3, 2], [false, false], 3), [1, 2]);
  assert.deepEqual(share([10, 1], [true, true], 6), [5, 1]);
});

test("terminal view: close leaves every agent's text, the tokens, then the answer", async () => {
  const { v, written } = view({ columns: 50 });
  feed(v, [
    chunk("facts", "factual", "Fact one."),
    chunk("stats", "statistician", "Stat one."),
    chunk("answer", "synth", "The answer."),
    {
      event: "usage",
      scope: "flow",
      usage: { inputTokens: 30, outputTokens: 12, totalTokens: 42 },
    },
    { event: "answer", text: "The answer." },
    { event: "done" },
  ]);
  await new Promise((r) => setTimeout(r, 20)); // let a live frame be drawn
  await v.close();
  await v.close(); // a second close does nothing
  const all = written.join("");
  assert.ok(all.includes("\x1b[?25l"), "the cursor is hidden while live");
  assert.ok(all.endsWith("\x1b[J\x1b[?25h"), "…and shown again at the end");
  // deno-lint-ignore no-control-regex
  const report = plain(written.at(-1)!).replace(/\x1b\[\d*[AKJ]|\x1b\[\?25[hl]|\r/g, "");
  const order = [
    "── facts",
    "Fact one.",
    "── stats",
    "Stat one.",
    "tokens: 42",
    "── answer",
    "The answer.",
  ]
    .map((s) => report.indexOf(s));
  assert.deepEqual([...order].sort((a, b) => a - b), order, report);
  assert.ok(order.every((i) => i >= 0), report);
  assert.equal(report.split("The answer.").length, 2, "the answer once, at the end");
});
