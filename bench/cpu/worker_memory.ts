/**
 * `bench:cpu --memory` inside workerd: `GET /run?n=1000&kind=flows|streams&holdMs=3000` starts n
 * research flows on the in-process offline model (each specialist parked after its first token,
 * the next one 10 minutes away: three open model requests per flow), or 8 n bare connection
 * streams (the stream floor of bench/flow.bench.ts), and streams NDJSON: `parked` once they are
 * all there, then, `holdMs` later, everything is aborted and `ended` follows once every flow has
 * ended, and `done` after another `holdMs`. Everything happens in this one request, because
 * workerd ties timers and I/O to the request that made them. The driver reads the workerd
 * process's RSS at `parked` and before `done`.
 */
import { createOfflineModel } from "../../src/llm/offline_model.ts";
import { runResearch } from "../../src/research/run_research.ts";
import { DEFAULT_CAPACITY } from "../../src/connection.ts";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function flows(n: number, line: (s: object) => Promise<void>, holdMs: number) {
  const model = createOfflineModel({ firstTokenDelayMs: 0, tokenDelayMs: 600_000 });
  const controllers: AbortController[] = [];
  const ends: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const controller = new AbortController();
    controllers.push(controller);
    ends.push(
      runResearch("the history of zero", {
        llm: { fetch: model.fetch },
        signal: controller.signal,
      }).catch((e) => e),
    );
  }
  while (model.stats.started < 3 * n) await sleep(10);
  await sleep(200);
  await line({ parked: n, active: model.stats.active });
  await sleep(holdMs);
  for (const c of controllers) c.abort();
  const outcomes = await Promise.all(ends);
  const aborted = outcomes.filter((e) => e instanceof DOMException && e.name === "AbortError");
  await line({ ended: n, aborted: aborted.length, active: model.stats.active });
}

async function streams(n: number, line: (s: object) => Promise<void>, holdMs: number) {
  const all = Array.from({ length: 8 * n }, () => {
    const ts = new TransformStream(undefined, { highWaterMark: 1 }, {
      highWaterMark: DEFAULT_CAPACITY,
    });
    const writer = ts.writable.getWriter();
    const reader = ts.readable.getReader();
    reader.read().catch(() => {});
    return { writer, reader };
  });
  await sleep(200);
  await line({ parked: n, streams: all.length });
  await sleep(holdMs);
  await Promise.all(all.map((s) => Promise.allSettled([s.reader.cancel(), s.writer.abort()])));
  await line({ ended: n });
}

export default {
  fetch(request: Request): Response {
    const url = new URL(request.url);
    const n = Number(url.searchParams.get("n") ?? 1000);
    const holdMs = Number(url.searchParams.get("holdMs") ?? 3000);
    const kind = url.searchParams.get("kind") ?? "flows";
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const encoder = new TextEncoder();
    const line = (s: object) => writer.write(encoder.encode(JSON.stringify(s) + "\n"));
    (async () => {
      try {
        await (kind === "streams" ? streams : flows)(n, line, holdMs);
        await sleep(holdMs);
        await line({ done: true });
      } catch (e) {
        await line({ error: String(e) });
      }
      await writer.close();
    })();
    // NDJSON: Miniflare does not gzip (and so buffer) it.
    return new Response(readable, { headers: { "content-type": "application/x-ndjson" } });
  },
};
