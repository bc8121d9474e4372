/**
 * `bench:cpu`'s floor server: no framework, frames as `--serve` sends them (a run). Under Node, `node:http` writing each frame to the
 * socket; under Deno, `Deno.serve` with a body stream it enqueues frames into. Routes:
 * `POST /research` (the flow, floor.ts), `GET /model` (only the model side: the four replayed
 * bodies read to their end, answered 204), `GET /empty` (204: the runtime's cost of a request).
 */
import { floorFlow, type FloorSink } from "./floor.ts";
import { replayFetch } from "./replay.ts";
import { modelOnly } from "./model_only.ts";
import { isDeno, loadReplay, modelURL, ready } from "./serve.ts";

const replay = await loadReplay();
const baseURL = modelURL();
const model = baseURL ? fetch : replayFetch(replay);

function topicOf(body: string): string {
  try {
    return String(JSON.parse(body).topic);
  } catch {
    return "the history of zero";
  }
}

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
};

if (isDeno) {
  // deno-lint-ignore no-explicit-any
  const server = (globalThis as any).Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    async (req: Request) => {
      const path = new URL(req.url).pathname;
      if (path === "/empty") return new Response(null, { status: 204 });
      if (path === "/model") {
        await modelOnly(replay);
        return new Response(null, { status: 204 });
      }
      const topic = topicOf(await req.text());
      let sink!: FloorSink;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          sink = { write: (b) => c.enqueue(b), close: () => c.close() };
        },
      });
      floorFlow(model, topic, sink, { run: true, baseURL }).catch((e) => console.error(e));
      return new Response(body, { headers: SSE_HEADERS });
    },
  );
  ready(server.addr.port);
} else {
  const http = await import("node:http");
  const server = http.createServer((req, res) => {
    if (req.url === "/empty") return void res.writeHead(204).end();
    if (req.url === "/model") {
      modelOnly(replay).then(() => res.writeHead(204).end());
      return;
    }
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (s: string) => (body += s));
    req.on("end", () => {
      res.writeHead(200, SSE_HEADERS);
      floorFlow(model, topicOf(body), {
        write: (b) => void res.write(b),
        close: () => res.end(),
      }, { run: true, baseURL }).catch((e) => console.error(e));
    });
  });
  server.listen(0, "127.0.0.1", () => ready((server.address() as { port: number }).port));
}
