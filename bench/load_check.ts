/**
 * Shared by the load benchmark (bench/load.bench.ts) and its CI variant (test/load.test.ts): one
 * streaming research request over HTTP, read to its end and checked against the offline model's
 * deterministic text for the request's own topic. Web-standard APIs only, so it runs under Node
 * and Deno.
 *
 * @module
 */
import { offlineReply, parseTopic } from "../src/llm/offline_text.ts";
import { RESEARCH_EVENTS } from "../src/research/events.ts";
import { type Frame, sseReader } from "../test/http_helpers.ts";

/** The roles whose chunks a complete research stream carries. */
export const ROLES = ["facts", "stats", "quotes", "answer"] as const;

/** One request's outcome. */
export interface ResearchOutcome {
  topic: string;
  /** ms from sending the request to the response headers (undefined if none came). */
  headersMs?: number;
  /** ms from sending the request to the first `chunk` event (undefined if none came). */
  ttfcMs?: number;
  /** ms from sending the request to the end of the body. */
  totalMs: number;
  /** Empty when the stream was complete and correct; otherwise what was wrong with it. */
  problems: string[];
}

/**
 * The synthesizer's user prompt for these findings, built as `Synthesizer.run` builds it
 * (src/research/agents.ts). Kept in step with it by the checks below: a drift fails every request.
 */
export function synthesizerPrompt(facts: string, stats: string, quotes: string): string {
  return "Combine these three perspectives into a 2–3 paragraph answer.\n\n" +
    `## Facts\n${facts}\n\n` +
    `## Stats\n${stats}\n\n` +
    `## Quotes\n${quotes}\n`;
}

/** The answer the offline model gives for these findings (as it derives it from the prompt). */
export function expectedAnswer(facts: string, stats: string, quotes: string): string {
  const prompt = synthesizerPrompt(facts, stats, quotes);
  return offlineReply("answer", parseTopic(prompt), prompt);
}

/**
 * Checks a whole SSE research stream for `topic`: `node`, `finish` (each `stop`) and `usage` frames
 * anywhere before the answer, nothing outside the research vocabulary; chunks
 * of exactly the four roles; exactly one `answer`, then `done`, then the end; no `error`. The
 * specialists' texts must be the offline model's for THIS topic (so nothing was mixed in from
 * another request), and the answer, streamed and final, the one the model derives from them.
 */
export function checkFrames(topic: string, frames: Frame[]): string[] {
  const problems: string[] = [];
  const texts = new Map<string, string>();
  const kinds = frames.map((f) => f.event);
  const errors = frames.filter((f) => f.event === "error");
  if (errors.length) problems.push(`error event: ${JSON.stringify(errors[0].data)}`);
  const answers = kinds.filter((k) => k === "answer").length;
  if (answers !== 1) problems.push(`${answers} answer events`);
  if (kinds.at(-1) !== "done" || kinds.at(-2) !== "answer") {
    problems.push(`ends with ${JSON.stringify(kinds.slice(-2))}, not answer, done`);
  }
  const answerAt = kinds.indexOf("answer");
  if (answerAt >= 0 && kinds.length !== answerAt + 2) {
    problems.push(`after the answer: ${JSON.stringify(kinds.slice(answerAt + 1))}`);
  }
  for (const f of frames) {
    if (f.event === "chunk") {
      const role = String(f.data?.role);
      if (!(ROLES as readonly string[]).includes(role)) problems.push(`chunk of role ${role}`);
      texts.set(role, (texts.get(role) ?? "") + String(f.data?.text));
    } else if (f.event === "finish" && f.data?.finishReason !== "stop") {
      problems.push(`${f.data?.role} finished with ${f.data?.finishReason}`);
    } else if (f.event === "run" && f === frames[0]) {
      // The first frame names the run (issue 11).
    } else if (!(RESEARCH_EVENTS as readonly string[]).includes(f.event)) {
      problems.push(`unexpected event ${f.event}`);
    }
  }
  for (const role of ROLES) if (!texts.has(role)) problems.push(`no ${role} chunks`);
  const [facts, stats, quotes] = ["facts", "stats", "quotes"].map((r) => texts.get(r) ?? "");
  for (const [role, text] of [["facts", facts], ["stats", stats], ["quotes", quotes]]) {
    if (text !== offlineReply(role, topic, `Topic: ${topic}`)) {
      problems.push(`${role} text is not the offline model's for ${JSON.stringify(topic)}`);
    }
  }
  const want = expectedAnswer(facts, stats, quotes);
  if (texts.get("answer") !== want) problems.push("streamed answer differs from the expected");
  const final = frames.find((f) => f.event === "answer")?.data?.text;
  if (final !== want) problems.push("answer event differs from the expected");
  return problems;
}

/**
 * POSTs `/research {topic}` to `baseUrl` (no trailing slash), reads the SSE stream to its end and
 * checks it. Never throws: a transport failure is one more problem.
 */
export async function researchOnce(
  baseUrl: string,
  topic: string,
  fetcher: typeof fetch = fetch,
): Promise<ResearchOutcome> {
  const start = performance.now();
  let ttfcMs: number | undefined;
  let headersMs: number | undefined;
  try {
    const res = await fetcher(`${baseUrl}/research`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ topic }),
    });
    headersMs = performance.now() - start;
    if (res.status !== 200 || !res.body) {
      const body = await res.text().catch(() => "");
      return {
        topic,
        headersMs,
        totalMs: performance.now() - start,
        problems: [`HTTP ${res.status}: ${body.slice(0, 200)}`],
      };
    }
    const reader = sseReader(res.body);
    const frames: Frame[] = [];
    for (let f = await reader.next(); f; f = await reader.next()) {
      if (ttfcMs === undefined && f.event === "chunk") ttfcMs = performance.now() - start;
      frames.push(f);
    }
    return {
      topic,
      headersMs,
      ttfcMs,
      totalMs: performance.now() - start,
      problems: checkFrames(topic, frames),
    };
  } catch (error) {
    return {
      topic,
      headersMs,
      ttfcMs,
      totalMs: performance.now() - start,
      problems: [`request failed: ${(error as Error)?.message ?? String(error)}`],
    };
  }
}

/** The p-th percentile (0–100, nearest rank) of `values`; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}
