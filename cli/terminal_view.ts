/**
 * The live terminal view of a research flow, for a person watching (stdout is a terminal and
 * neither `--plain` nor `--json` was given): one pane per agent filling as its tokens arrive,
 * word-wrapped to the terminal's width, the graph's node states, reasoning dimmed, token counts
 * when the model reports them; when the flow ends the live panes give way to a plain report (each
 * agent's whole text, then the answer), which stays in the scrollback.
 *
 * Word wrapping is `wrap-ansi` (columns measured by `string-width`: wide CJK and emoji count
 * two). The rest is a few ANSI sequences written here (cursor up, erase, hide/show cursor, SGR
 * styles) rather than a terminal library: the redraw-in-place libraries (log-update, ink) write
 * to Node's `process.stdout` themselves, which would bypass the CLI's backpressured stdout stream
 * and Deno's own, and bring their dependency trees to Deno-only users for five escape codes.
 *
 * Model text is shown as text: control characters and escape sequences in it are dropped, so a
 * model cannot move the cursor or restyle the terminal.
 *
 * @module
 */
import wrapAnsi from "wrap-ansi";
import type { TokenUsage as Usage } from "../src/llm/deltas.ts";
import type { ResearchEvent } from "../src/research/events.ts";

/** What the view shows: the research flow's events (src/research/events.ts). */
export type ViewEvent = ResearchEvent;

/** How the view reaches the terminal. */
export interface TerminalViewOptions {
  /** Writes to the terminal; the view waits for each write (backpressure). */
  write(text: string): Promise<void>;
  /** The terminal's size now (read at every frame, so a resize takes effect at once). */
  size(): { columns: number; rows: number };
  /** SGR colours and styles (false for NO_COLOR / --no-color; the live redraw stays). */
  color: boolean;
  /** Shown in the title line. */
  topic: string;
  /** The graph's node ids, in the order to show them (others are added as they appear). */
  nodes?: string[];
  /** Least time between two frames (default 50 ms). */
  frameMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

type NodeState = "waiting" | "running" | "done" | "failed";

interface Pane {
  role: string;
  node?: string;
  /** The text so far, reasoning spans marked so they can be dimmed. */
  parts: { reasoning: boolean; text: string }[];
  usage?: Usage;
  finishReason?: string;
}

const ESC = "\x1b[";
const STYLE = {
  bold: ["1", "22"],
  dim: ["2", "22"],
  red: ["31", "39"],
  green: ["32", "39"],
  yellow: ["33", "39"],
  cyan: ["36", "39"],
} as const;
const SYMBOL: Record<NodeState, [string, keyof typeof STYLE]> = {
  waiting: ["○", "dim"],
  running: ["◐", "yellow"],
  done: ["●", "green"],
  failed: ["✗", "red"],
};

/** Drops what a terminal would act on rather than show: C0/C1 controls (but newline) and ESC. */
export function printable(text: string): string {
  return text.replace(/\r\n?/g, "\n").replace(/\t/g, "  ")
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, "");
}

/**
 * The live view. Feed it events with {@link TerminalView.handle}; end it with
 * {@link TerminalView.close}, which replaces the live panes with the final report.
 *
 * @example
 * ```ts
 * const view = new TerminalView({ write, size: () => ({ columns: 80, rows: 24 }), color: true, topic });
 * view.handle({ event: "chunk", role: "facts", text: "Zero" });
 * await view.close();
 * ```
 */
export class TerminalView {
  #options: TerminalViewOptions;
  #panes = new Map<string, Pane>();
  #nodes = new Map<string, NodeState>();
  #total?: Usage;
  #answer?: string;
  #error?: string;
  #drawn = 0;
  #started: number;
  #timer?: ReturnType<typeof setTimeout>;
  #writing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: TerminalViewOptions) {
    this.#options = options;
    this.#started = this.#now();
    for (const id of options.nodes ?? []) this.#nodes.set(id, "waiting");
  }

  /** Takes one event into the view; the screen follows within `frameMs`. */
  handle(e: ViewEvent): void {
    switch (e.event) {
      case "node":
        this.#nodes.set(e.id, e.state);
        break;
      case "chunk":
      case "reasoning": {
        const pane = this.#pane(e.role, e.node);
        const text = printable(e.text);
        const reasoning = e.event === "reasoning";
        const last = pane.parts.at(-1);
        if (last && last.reasoning === reasoning) last.text += text;
        else pane.parts.push({ reasoning, text });
        break;
      }
      case "finish":
        this.#pane(e.role, e.node).finishReason = e.finishReason;
        break;
      case "usage":
        if (e.scope === "agent") this.#pane(e.role, e.node).usage = e.usage;
        else this.#total = e.usage;
        break;
      case "answer":
        this.#answer = e.text;
        break;
      case "error":
        this.#error = e.message;
        break;
    }
    this.#schedule();
  }

  /** The live region as lines, each at most `columns - 1` wide (exposed for tests). */
  frame(): string[] {
    const { columns, rows } = this.#options.size();
    const width = Math.max(10, columns - 1);
    const secs = ((this.#now() - this.#started) / 1000).toFixed(1);
    const tokens = this.#total ? ` · ${this.#total.totalTokens} tokens` : "";
    const right = `  ${secs} s${tokens}`;
    // One title line: the topic is shortened to fit, never wrapped.
    const room = Math.max(1, width - "reflow-edge · ".length - right.length);
    const topic = printable(this.#options.topic).replace(/\s+/g, " ");
    const shown = topic.length > room ? `${topic.slice(0, Math.max(0, room - 1))}…` : topic;
    const title = `${this.#style("bold", "reflow-edge")} ${this.#style("dim", "·")} ${shown}${
      this.#style("dim", right)
    }`;
    const head = [title, ...this.#wrap(this.#nodeLine(), width)];
    const panes = [...this.#panes.values()];
    if (panes.length === 0) return head.slice(0, Math.max(1, rows - 1));
    // Everything must fit on the screen (the cursor cannot go back above its top line): each
    // pane gets a header and its latest lines. When they do not all fit, finished panes shrink
    // to their last two lines first, and the running ones share the rest.
    const free = Math.max(0, rows - 1 - head.length - panes.length);
    const bodies = panes.map((pane) => this.#body(pane, width));
    const sizes = share(bodies.map((b) => b.length), panes.map((p) => this.#isLive(p)), free);
    const lines = [...head];
    panes.forEach((pane, i) => {
      lines.push(this.#paneHeader(pane, width));
      if (sizes[i] > 0) lines.push(...bodies[i].slice(-sizes[i]));
    });
    return lines.slice(0, Math.max(1, rows - 1));
  }

  /**
   * Ends the live view: the panes give way to the report (every agent's whole text, the token
   * counts, then the answer), and the cursor comes back. Safe to call more than once.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    const width = Math.max(10, this.#options.size().columns - 1);
    let report = "";
    for (const pane of this.#panes.values()) {
      if (pane.role === "answer" && this.#answer !== undefined) continue;
      report += `${this.#paneHeader(pane, width)}\n${this.#body(pane, width).join("\n")}\n\n`;
    }
    if (this.#total) {
      report += `${this.#style("dim", `tokens: ${usageText(this.#total)}`)}\n\n`;
    }
    if (this.#answer !== undefined) {
      const pane = this.#panes.get("answer") ?? { role: "answer", parts: [] };
      report += `${this.#paneHeader(pane, width)}\n${
        this.#wrap(printable(this.#answer), width).join("\n")
      }\n`;
    }
    await this.#draw(report.split("\n").slice(0, -1), true);
  }

  #pane(role: string, node?: string): Pane {
    let pane = this.#panes.get(role);
    if (!pane) this.#panes.set(role, pane = { role, node, parts: [] });
    if (node && !pane.node) pane.node = node;
    return pane;
  }

  /** Whether the pane's agent is still at work (or was never reported finished). */
  #isLive(pane: Pane): boolean {
    const state = pane.node ? this.#nodes.get(pane.node) : undefined;
    return state !== "done" && state !== "failed";
  }

  #nodeLine(): string {
    return [...this.#nodes].map(([id, state]) => {
      const [symbol, style] = SYMBOL[state];
      return `${this.#style(style, symbol)} ${state === "waiting" ? this.#style("dim", id) : id}`;
    }).join("  ");
  }

  #paneHeader(pane: Pane, width: number): string {
    const state = pane.node ? this.#nodes.get(pane.node) : undefined;
    const facts = [
      pane.node && pane.node !== pane.role ? pane.node : "",
      state && state !== "done" ? state : "",
      pane.usage ? `${pane.usage.outputTokens} tokens out` : "",
      pane.finishReason && pane.finishReason !== "stop" ? `stopped: ${pane.finishReason}` : "",
    ].filter(Boolean).join(" · ");
    const label = `── ${pane.role}${facts ? ` · ${facts}` : ""} `;
    const plain = label.length > width ? label.slice(0, width) : label;
    const rule = "─".repeat(Math.max(0, width - plain.length));
    return this.#style("cyan", this.#style("bold", plain)) + this.#style("dim", rule);
  }

  #body(pane: Pane, width: number): string[] {
    const styled = pane.parts.map((p) => p.reasoning ? this.#style("dim", p.text) : p.text).join(
      "",
    );
    return styled === "" ? [] : this.#wrap(styled, width);
  }

  /** Word-wrapped to `width` columns; a word longer than a line is broken. */
  #wrap(text: string, width: number): string[] {
    return wrapAnsi(text, width, { hard: true, trim: true }).split("\n");
  }

  #style(name: keyof typeof STYLE, text: string): string {
    if (!this.#options.color || text === "") return text;
    const [on, off] = STYLE[name];
    return `${ESC}${on}m${text}${ESC}${off}m`;
  }

  #schedule(): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) void this.#draw(this.frame(), false);
    }, this.#options.frameMs ?? 50);
  }

  /** Replaces what the last frame drew with `lines` (the cursor hidden while live). */
  #draw(lines: string[], final: boolean): Promise<void> {
    const up = this.#drawn > 0 ? `${ESC}${this.#drawn}A\r` : "";
    const body = lines.map((l) => `${l}${ESC}K\n`).join("");
    const text = `${up}${final ? "" : `${ESC}?25l`}${body}${ESC}J${final ? `${ESC}?25h` : ""}`;
    this.#drawn = final ? 0 : lines.length;
    // One write at a time, in order; a failed write (stdout closed) ends the view quietly.
    this.#writing = this.#writing.then(() => this.#options.write(text)).catch(() => {});
    return this.#writing;
  }

  #now(): number {
    return (this.#options.now ?? Date.now)();
  }
}

/**
 * How many lines each pane shows, given how many it has (`needs`), which are still live, and
 * `room` lines in all: everything if it fits; otherwise each finished pane keeps its last line,
 * the live panes share the rest (newest first, so the latest agent is seen even when the room is
 * tiny), and what they do not need goes back to the finished ones, newest first.
 */
export function share(needs: number[], live: boolean[], room: number): number[] {
  if (needs.reduce((a, b) => a + b, 0) <= room) return [...needs];
  const sizes = needs.map(() => 0);
  let left = room;
  const give = (panes: number[], cap: (i: number) => number) => {
    let open = panes.filter((i) => sizes[i] < cap(i));
    while (left > 0 && open.length > 0) {
      const each = Math.max(1, Math.floor(left / open.length));
      for (const i of open) {
        const take = Math.min(each, cap(i) - sizes[i], left);
        sizes[i] += take;
        left -= take;
      }
      open = open.filter((i) => sizes[i] < cap(i));
    }
  };
  const newestFirst = needs.map((_, i) => i).reverse();
  const finished = newestFirst.filter((i) => !live[i]);
  give(finished, (i) => Math.min(needs[i], 1));
  give(newestFirst.filter((i) => live[i]), (i) => needs[i]);
  give(finished, (i) => needs[i]);
  return sizes;
}

function usageText(u: Usage): string {
  return `${u.totalTokens} (${u.inputTokens} in, ${u.outputTokens} out${
    u.reasoningTokens ? `, ${u.reasoningTokens} reasoning` : ""
  })`;
}
