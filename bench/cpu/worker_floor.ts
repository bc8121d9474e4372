/**
 * `bench:cpu`'s floor inside workerd: a bare fetch handler, no framework, frames as a run's
 * Durable Object streams `/research` (ids, a first `run` frame; see floor_server.ts for the
 * routes). The recording comes as the text binding `RECORDING`; with `MODEL_URL` the model is
 * that server instead.
 */
import { floorFlow, type FloorSink } from "./floor.ts";
import { encodeRecording, type Replay, replayFetch } from "./replay.ts";
import { modelOnly } from "./model_only.ts";

let replay: Replay | undefined;

export default {
  async fetch(
    request: Request,
    env: { RECORDING: string; MODEL_URL?: string },
  ): Promise<Response> {
    replay ??= encodeRecording(JSON.parse(env.RECORDING));
    const path = new URL(request.url).pathname;
    if (path === "/empty") return new Response(null, { status: 204 });
    if (path === "/model") {
      await modelOnly(replay);
      return new Response(null, { status: 204 });
    }
    let topic = "the history of zero";
    try {
      topic = String((await request.json() as { topic: string }).topic);
    } catch { /* the default */ }
    let sink!: FloorSink;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        sink = { write: (b) => c.enqueue(b), close: () => c.close() };
      },
    });
    const model = env.MODEL_URL ? fetch : replayFetch(replay);
    floorFlow(model, topic, sink, { run: true, baseURL: env.MODEL_URL }).catch((e) =>
      console.error(e)
    );
    return new Response(body, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
    });
  },
};
