/**
 * What the offline model says: deterministic, topic-aware text in the shape each research role
 * asks for. Pure functions, so tests can compare a streamed reply with the text it must equal.
 *
 * @module
 */

/** The research roles the offline model recognises, plus a generic fallback. */
export type OfflineRole = "facts" | "stats" | "quotes" | "answer" | "generic";

/**
 * Guesses the role from the prompts, the way the research flow phrases them.
 *
 * @example
 * ```ts
 * detectRole("You are a statistician. Give 3–5 bullets.", "Topic: zero"); // "stats"
 * ```
 */
export function detectRole(system: string, user = ""): OfflineRole {
  const s = system.toLowerCase();
  // The writer is checked first: its prompt may well mention facts or quotes it combines.
  if (s.includes("writer") || s.includes("combine")) return "answer";
  if (s.includes("factual")) return "facts";
  if (s.includes("statistician")) return "stats";
  if (s.includes("quote")) return "quotes";
  if (/^combine\b/im.test(user) || /^## facts\b/im.test(user)) return "answer";
  return "generic";
}

/**
 * The topic named by a `Topic: …` line, or `""`.
 *
 * @example
 * ```ts
 * parseTopic("Topic: the history of zero"); // "the history of zero"
 * ```
 */
export function parseTopic(userPrompt: string): string {
  const match = /^\s*topic\s*:\s*(.+?)\s*$/im.exec(userPrompt);
  return match ? match[1] : "";
}

const ASKS: Record<string, string> = {
  facts: "3–5 factual bullets",
  stats: "3–5 bullets of relevant numbers",
  quotes: "2–3 short, attributable quotes",
  answer: "a 2–3 paragraph answer that combines the findings",
  generic: "a short, direct answer",
};

/**
 * What the offline model "thinks" before it answers, when asked to reason: deterministic, so a
 * test can compare the reasoning it received with the text it must equal.
 *
 * @example
 * ```ts
 * offlineReasoning("stats", "tea"); // "The user wants 3–5 bullets of relevant numbers about tea. …"
 * ```
 */
export function offlineReasoning(
  role: OfflineRole | string,
  topic: string,
  userPrompt = "",
): string {
  const t = topic.trim() || parseTopic(userPrompt) || "this topic";
  const ask = ASKS[role] ?? ASKS.generic;
  return `The user wants ${ask} about ${t}. I should check what is well established, ` +
    `keep it short and avoid claims I cannot attribute.`;
}

/**
 * The deterministic reply for a role and topic. For `answer`, the `## Facts`, `## Stats` and
 * `## Quotes` sections of the user prompt are woven into the paragraphs.
 *
 * @example
 * ```ts
 * offlineReply("facts", "the history of zero", "Topic: the history of zero");
 * // "- The history of zero has been studied …"
 * ```
 */
export function offlineReply(role: OfflineRole | string, topic: string, userPrompt = ""): string {
  const t = topic.trim() || parseTopic(userPrompt) || "this topic";
  const h = hash(t.toLowerCase());
  switch (role) {
    case "facts":
      return pick(FACTS, h, 3 + (h % 3)).map((f) => `- ${f(t)}`).join("\n");
    case "stats":
      return pick(STATS, h >>> 3, 3 + ((h >>> 7) % 3))
        .map((f, i) => `- ${f(t, hash(`${t}#${i}`))}`)
        .join("\n");
    case "quotes":
      return pick(QUOTES, h >>> 5, 2 + ((h >>> 11) % 2))
        .map(([quote, who]) => `"${quote(t)}" — ${who}`)
        .join("\n");
    case "answer":
      return answer(topic.trim() || parseTopic(userPrompt), userPrompt);
    default:
      return `The offline model has no live knowledge, but here is a short note on ${t}: ` +
        `it is worth approaching ${t} through its history, its numbers and the people who ` +
        "shaped it.";
  }
}

/**
 * Splits text into word-sized tokens (each word with the whitespace before it), so that
 * `offlineTokens(text).join("") === text`.
 *
 * @example
 * ```ts
 * offlineTokens("- Zero is\nold"); // ["-", " Zero", " is", "\nold"]
 * ```
 */
export function offlineTokens(text: string): string[] {
  return text.match(/\s*\S+|\s+/g) ?? [];
}

function answer(topic: string, userPrompt: string): string {
  const facts = bullets(section(userPrompt, "facts"));
  const stats = bullets(section(userPrompt, "stats"));
  const quotes = bullets(section(userPrompt, "quotes"));
  const subject = topic || "the topic";
  const paragraphs: string[] = [];
  paragraphs.push(
    facts.length
      ? `On ${subject}, the facts set the scene: ${sentence(facts[0])}` +
        (facts[1] ? ` Beyond that, ${lowerFirst(sentence(facts[1]))}` : "")
      : `On ${subject}, the available facts are thin, so this answer stays cautious.`,
  );
  paragraphs.push(
    stats.length
      ? `The numbers point the same way: ${stats.slice(0, 2).map(sentence).join(" ")}` +
        " Taken together, these figures suggest the story is broad rather than niche."
      : "No figures were supplied, so no claims about scale are made here.",
  );
  if (quotes.length) {
    paragraphs.push(
      `In the words of those who studied it, ${quotes[0]}` +
        (quotes[1] ? `; and ${quotes[1]}.` : ".") +
        " Facts, figures and voices agree on the shape of the story.",
    );
  }
  return paragraphs.join("\n\n");
}

/** The body of a `## Name` section, up to the next heading. */
function section(prompt: string, name: string): string {
  const match = new RegExp(`^##\\s*${name}\\s*$([\\s\\S]*?)(?=^##\\s|(?![\\s\\S]))`, "im").exec(
    prompt,
  );
  return match ? match[1].trim() : "";
}

function bullets(text: string): string[] {
  return text.split("\n").map((line) => line.replace(/^\s*(?:[-*•]|\d+[.)])\s*/, "").trim())
    .filter(Boolean);
}

function sentence(text: string): string {
  return /[.!?"]$/.test(text) ? text : `${text}.`;
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}

function upperFirst(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** FNV-1a: small, stable across runtimes, good enough to vary wording and numbers. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** `count` distinct items of `pool`, chosen and ordered by `seed`. */
function pick<T>(pool: readonly T[], seed: number, count: number): T[] {
  const start = seed % pool.length;
  const step = pool.length - 1 === 0 ? 1 : 1 + ((seed >>> 4) % (pool.length - 1));
  const out: T[] = [];
  const seen = new Set<number>();
  for (let i = 0; out.length < Math.min(count, pool.length); i++) {
    let index = (start + i * step) % pool.length;
    while (seen.has(index)) index = (index + 1) % pool.length;
    seen.add(index);
    out.push(pool[index]);
  }
  return out;
}

const FACTS: ReadonlyArray<(t: string) => string> = [
  (t) => `${upperFirst(t)} has been studied for centuries, and its story crosses several cultures.`,
  (t) => `The earliest records of ${t} come from practical needs, long before any formal theory.`,
  (t) => `Scholars usually divide ${t} into distinct phases, each building on the one before.`,
  (t) => `Ideas about ${t} spread along trade routes, carried by merchants as much as scholars.`,
  (t) => `Several turning points in ${t} were disputed at the time and accepted only later.`,
  (t) => `Today ${t} is taught widely, and its influence reaches science, trade and daily life.`,
  (t) => `Many popular stories about ${t} simplify a slower, messier history.`,
];

const STATS: ReadonlyArray<(t: string, n: number) => string> = [
  (t, n) => `About ${20 + (n % 70)}% of introductory surveys of ${t} open with its origins.`,
  (t, n) => `Roughly ${3 + (n % 9)} major traditions contributed to ${t}.`,
  (t, n) => `The key developments in ${t} span about ${400 + (n % 1600)} years.`,
  (t, n) => `An estimated ${(1 + (n % 50)) * 1000} scholarly works discuss ${t}.`,
  (t, n) => `Interest in ${t} grew by about ${5 + (n % 45)}% over the last decade.`,
  (t, n) => `Around ${2 + (n % 8)} in 10 textbooks mention ${t} in their first chapter.`,
];

const QUOTES: ReadonlyArray<readonly [(t: string) => string, string]> = [
  [(t) => `To understand ${t}, start with the problem it solved.`, "Ada Lindqvist, historian"],
  [(t) => `${upperFirst(t)} looks obvious only in hindsight.`, "Rafael Ortiz, educator"],
  [() => "Every simple idea hides a long argument.", "Mina Okafor, philosopher"],
  [(t) => `The story of ${t} is a story of people, not just ideas.`, "Jonas Berg, writer"],
  [() => "What we take for granted was once a radical claim.", "Priya Raman, scholar"],
];
