/**
 * Views of the research event stream (src/research/events.ts): each formatter renders one
 * {@link ResearchEvent} at a time as text. Formatters that mark role changes keep state, so make
 * a fresh one per stream (`formatText()`).
 *
 * @module
 */
import type { ResearchEvent } from "./events.ts";
import { isStopEarly } from "./events.ts";

/** Renders one event; `""` when the view shows nothing for it. */
export type ResearchFormat = (event: ResearchEvent) => string;

/** Options every formatter takes. */
export interface FormatOptions {
  /** Show the agents' reasoning (default true). */
  reasoning?: boolean;
}

const STOPS: Record<string, string> = {
  length: "cut at the token limit",
  content_filter: "stopped by the server's content filter",
};

/**
 * The seed's role-tagged text: `[facts] ` before the first token of a role, a blank line when
 * the role changes; an agent's reasoning under its own tag (`[facts reasoning] `); a line when an
 * answer was cut short (`[facts stopped: cut at the token limit (length)]`); then, at the end,
 * the answer once more on its own (`\n\n<answer>\n`) or `\n\nerror: <message>\n`. Without
 * reasoning or early stops the text is byte for byte the seed's.
 *
 * @example
 * ```ts
 * const render = formatText();
 * render({ event: "chunk", role: "facts", text: "Zero" }); // "[facts] Zero"
 * render({ event: "chunk", role: "facts", text: " is" }); // " is"
 * ```
 */
export function formatText(options: FormatOptions = {}): ResearchFormat {
  const showReasoning = options.reasoning ?? true;
  let previous: string | null = null;
  const tagged = (key: string, tag: string, text: string) => {
    if (key === previous) return text;
    const out = `${previous === null ? "" : "\n\n"}[${tag}] ${text}`;
    previous = key;
    return out;
  };
  return (e) => {
    switch (e.event) {
      case "chunk":
        return tagged(e.role, e.role, e.text);
      case "reasoning":
        return showReasoning
          ? tagged(`${e.role}\u0000reasoning`, `${e.role} reasoning`, e.text)
          : "";
      case "finish": {
        if (!isStopEarly(e.finishReason)) return "";
        const line = `[${e.role} stopped: ${STOPS[e.finishReason]} (${e.finishReason})]`;
        const out = previous === null ? line : `${previous === e.role ? "\n" : "\n\n"}${line}`;
        previous = `${e.role}\u0000stopped`;
        return out;
      }
      case "answer":
        return `\n\n${e.text}\n`;
      case "error":
        return `\n\nerror: ${e.message}\n`;
      default:
        return "";
    }
  };
}

/**
 * One JSON object per line, each exactly the event (`{"event":"chunk","role":…,"text":…}`), for
 * `--json`.
 *
 * @example
 * ```ts
 * formatJsonLines()({ event: "done" }); // '{"event":"done"}\n'
 * ```
 */
export function formatJsonLines(options: FormatOptions = {}): ResearchFormat {
  const showReasoning = options.reasoning ?? true;
  return (e) => e.event === "reasoning" && !showReasoning ? "" : JSON.stringify(e) + "\n";
}

/**
 * Server-Sent Events: `event: <event>` and the other fields as `data` (`event: chunk` with
 * `data: {"role","text"}`, `event: done` with `data: {}`).
 *
 * @example
 * ```ts
 * formatSse()({ event: "node", id: "synth", state: "running" });
 * // 'event: node\ndata: {"id":"synth","state":"running"}\n\n'
 * ```
 */
export function formatSse(options: FormatOptions = {}): ResearchFormat {
  const showReasoning = options.reasoning ?? true;
  return (e) => {
    if (e.event === "chunk" || e.event === "reasoning") {
      if (e.event === "reasoning" && !showReasoning) return "";
      return `event: ${e.event}\ndata: ${JSON.stringify({ role: e.role, text: e.text })}\n\n`;
    }
    const { event, ...data } = e;
    return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  };
}

/**
 * A `TransformStream` from events to text with `format`, dropping what it renders as `""`.
 *
 * @example
 * ```ts
 * researchEvents(topic, { llm }).pipeThrough(formatStream(formatText())).pipeTo(stdout);
 * ```
 */
export function formatStream(format: ResearchFormat): TransformStream<ResearchEvent, string> {
  return new TransformStream<ResearchEvent, string>({
    transform(event, controller) {
      const text = format(event);
      if (text) controller.enqueue(text);
    },
  });
}
