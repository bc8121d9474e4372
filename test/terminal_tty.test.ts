/**
 * The CLI in a real terminal: tmux runs main.ts on a pseudo-terminal and `capture-pane` reads the
 * screen as a person would see it, while the flow runs and after. Live panes, node states and
 * colour; NO_COLOR; Ctrl-C; `--plain`. (Piped, the CLI prints the seed's format: cli.test.ts.)
 */
import assert from "node:assert/strict";
import { runtime, test } from "./harness.ts";

const ONLY = {
  only: ["node", "deno"] as ("node" | "deno")[],
  why: "runs the CLI in tmux, a process workerd cannot spawn",
  timeout: 90_000,
};

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** A tmux server of our own (its own socket), running one command in a 90×30 terminal. */
async function inTmux(args: string[], env: Record<string, string> = {}) {
  const { execFile } = await import("node:child_process");
  const root = new URL("..", import.meta.url).pathname;
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  // Our own socket in our own directory, removed afterwards (tmux leaves the file behind).
  const dir = await mkdtemp(`${tmpdir()}/reflow-tmux-`);
  const socket = `${dir}/socket`;
  const tmux = (...a: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile("tmux", ["-S", socket, ...a], { encoding: "utf8" }, (error, stdout, stderr) => {
        if (error) {
          const missing = (error as { code?: string }).code === "ENOENT";
          reject(
            new Error(missing ? "tmux is not installed (Debian: apt-get install tmux)" : stderr),
          );
        } else resolve(stdout);
      })
    );
  const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  const cli = runtime === "deno"
    ? [g.Deno.execPath(), "run", "-A", "--node-modules-dir=manual", "main.ts"]
    : [g.process.execPath, "--import", "tsx", "main.ts"];
  const vars = Object.entries({ NO_COLOR: "", ...env }).map(([k, v]) => `${k}=${quote(v)}`);
  const command = `cd ${quote(root)} && env ${vars.join(" ")} ${
    [...cli, ...args].map(quote).join(" ")
  }; echo EXIT=$?; sleep 60`;
  await tmux("new-session", "-d", "-x", "90", "-y", "30", command);
  return {
    /** The screen now and the lines scrolled above it; with -e its colours as escape sequences. */
    screen: (escapes = false) =>
      tmux("capture-pane", "-p", "-S", "-", ...(escapes ? ["-e"] : []), "-t", "0"),
    keys: (...keys: string[]) => tmux("send-keys", "-t", "0", ...keys),
    cursorShown: async () => (await tmux("display", "-p", "-t", "0", "#{cursor_flag}")).trim(),
    close: async () => {
      await tmux("kill-server").catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Screens captured every 100 ms until `until` matches one (or 60 s pass). */
async function watch(
  term: Awaited<ReturnType<typeof inTmux>>,
  until: RegExp,
  onScreen?: (screen: string) => Promise<void> | void,
): Promise<string[]> {
  const screens: string[] = [];
  for (let i = 0; i < 600; i++) {
    const screen = await term.screen(true);
    screens.push(screen);
    await onScreen?.(screen);
    if (until.test(screen)) return screens;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the terminal never showed ${until}:\n${screens.at(-1)}`);
}

// deno-lint-ignore no-control-regex
const SGR = /\x1b\[[0-9;]*m/g;
const text = (screen: string) => screen.replace(SGR, "");

test("in a terminal: live panes per agent, node states, colour, then the report", async () => {
  const term = await inTmux(["--offline", "the history of zero"]);
  try {
    const screens = await watch(term, /EXIT=\d+/);
    const last = text(screens.at(-1)!);
    assert.match(last, /EXIT=0/, last);
    // While it ran: a title, the graph's nodes with one running, panes filling.
    const live = screens.map(text).find((s) =>
      /^reflow-edge · the history of zero/m.test(s) && /◐ /.test(s) && /── facts · factual/.test(s)
    );
    assert.ok(
      live,
      `no live frame among ${screens.length} screens:\n${screens.map(text).join("\n---\n")}`,
    );
    assert.match(live, /factual .*statistician .*quoter .*synth/s);
    assert.doesNotMatch(live, /\[facts\] /, "not the seed's format");
    // Afterwards: each agent's text under its heading, the token count, the answer last.
    const order = ["── facts", "── stats", "── quotes", "tokens: ", "── answer", "EXIT=0"]
      .map((s) => last.indexOf(s));
    assert.ok(order.every((i, k) => i >= 0 && (k === 0 || i > order[k - 1])), last);
    assert.match(last.slice(last.indexOf("── answer")), /zero/i);
    for (const line of last.split("\n")) assert.ok(line.length <= 90);
    // deno-lint-ignore no-control-regex
    assert.match(screens.at(-1)!, /\x1b\[[0-9;]*36m/, "the pane headings are coloured");
    assert.equal(await term.cursorShown(), "1", "the cursor is back");
  } finally {
    await term.close();
  }
}, ONLY);

test(
  "in a terminal: NO_COLOR means no colour; Ctrl-C stops at once and keeps what arrived",
  async () => {
    const term = await inTmux(["--offline", "the history of zero"], { NO_COLOR: "1" });
    try {
      let pressed = false;
      const screens = await watch(term, /EXIT=\d+/, async (screen) => {
        if (!pressed && /── stats/.test(screen)) {
          pressed = true;
          await term.keys("C-c");
        }
      });
      const last = screens.at(-1)!;
      assert.ok(pressed);
      assert.match(last, /EXIT=130/, last);
      assert.match(last, /reflow-edge: interrupted \(Ctrl-C\)/);
      assert.match(last, /── facts/, "what arrived stays on the screen");
      assert.doesNotMatch(last, /── answer/, "the flow stopped before the synthesizer");
      for (const screen of screens) assert.doesNotMatch(screen, SGR, "no colour at all");
      assert.equal(await term.cursorShown(), "1", "the cursor is back");
    } finally {
      await term.close();
    }
  },
  ONLY,
);

test("in a terminal with --plain: the seed's role-tagged text", async () => {
  const term = await inTmux(["--plain", "--offline", "zero"]);
  try {
    const last = text((await watch(term, /EXIT=\d+/)).at(-1)!);
    assert.match(last, /EXIT=0/);
    assert.match(last, /^\[facts\] /m);
    assert.match(last, /^\[answer\] /m);
    assert.doesNotMatch(last, /── facts/);
  } finally {
    await term.close();
  }
}, ONLY);
