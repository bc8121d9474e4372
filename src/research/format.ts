/** One streamed token of one agent, as every agent sends it on its `chunk` outport. */
export interface ResearchChunk {
  /** `facts`, `stats`, `quotes` or `answer` (or a role you add). */
  role: string;
  text: string;
  /** True on the first chunk of a tick. */
  first: boolean;
}

/**
 * Turns a chunk into the text the Logger writes. `previousRole` is the role of the chunk written
 * before it (null for the first), so that a format can mark role changes.
 */
export type ChunkFormat = (chunk: ResearchChunk, previousRole: string | null) => string;

/**
 * The seed's role-tagged text: `[facts] ` before the first token of a role, a blank line when
 * the role changes.
 *
 * @example
 * ```ts
 * formatText({ role: "facts", text: "Zero", first: true }, null); // "[facts] Zero"
 * ```
 */
export const formatText: ChunkFormat = (chunk, previousRole) => {
  if (chunk.role === previousRole) return chunk.text;
  return `${previousRole === null ? "" : "\n\n"}[${chunk.role}] ${chunk.text}`;
};

/** One JSON object per line: `{"event":"chunk","role":…,"text":…}`. */
export const formatJsonLines: ChunkFormat = (chunk) =>
  JSON.stringify({ event: "chunk", role: chunk.role, text: chunk.text }) + "\n";

/** A Server-Sent Events frame: `event: chunk` with `data: {"role","text"}`. */
export const formatSse: ChunkFormat = (chunk) =>
  `event: chunk\ndata: ${JSON.stringify({ role: chunk.role, text: chunk.text })}\n\n`;
