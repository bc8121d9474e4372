/**
 * Records the four upstream SSE byte streams of one research flow from the offline model (zero
 * delay), chunk by chunk as it writes them, by running the real flow through a recording fetch.
 * Prints the recording as JSON ({@link Recording}) on stdout.
 *
 * `node --import tsx bench/cpu/record.ts "the history of zero"`
 */
import { createOfflineModel } from "../../src/llm/offline_model.ts";
import { runResearch } from "../../src/research/run_research.ts";
import { type Recording, type Role, roleOf, ROLES } from "./replay.ts";

export async function record(topic: string): Promise<Recording> {
  const model = createOfflineModel({ tokenDelayMs: 0, firstTokenDelayMs: 0 });
  const decoder = new TextDecoder();
  const recording: Partial<Recording> = {};
  const recordingFetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const role = roleOf(typeof init?.body === "string" ? init.body : "");
    const response = await model.fetch(input, init);
    if (role === undefined || !response.body) return response;
    if (recording[role]) throw new Error(`record: a second request for ${role}`);
    const chunks: string[] = [];
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(decoder.decode(value));
    }
    recording[role] = chunks;
    const encoder = new TextEncoder();
    let i = 0;
    return new Response(
      new ReadableStream<Uint8Array>({
        pull(c) {
          if (i < chunks.length) c.enqueue(encoder.encode(chunks[i++]));
          else c.close();
        },
      }),
      { headers: response.headers },
    );
  }) as typeof fetch;
  await runResearch(topic, { llm: { fetch: recordingFetch } });
  for (const role of Object.keys(ROLES) as Role[]) {
    if (!recording[role]?.length) throw new Error(`record: nothing recorded for ${role}`);
  }
  return recording as Recording;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith("record.ts")) {
  const topic = process.argv[2] ?? "the history of zero";
  process.stdout.write(JSON.stringify(await record(topic)) + "\n");
}
