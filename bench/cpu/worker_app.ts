/**
 * `bench:cpu`'s app inside workerd, as worker.ts serves it in production: `/research` streamed
 * from the isolate (routes/stream.ts), runs forwarded elsewhere (there, to Durable Objects; here,
 * nowhere: the bench starts none). The model is the replay in-process (the text binding
 * `RECORDING`), or the model server at `MODEL_URL`.
 */
import type { Hono } from "hono";
import { createApp } from "../../routes/app.ts";
import { encodeRecording, replayFetch } from "./replay.ts";

let app: Hono | undefined;

export default {
  fetch(
    request: Request,
    env: { RECORDING: string; MODEL_URL?: string },
    ctx: unknown,
  ): Response | Promise<Response> {
    app ??= createApp({
      llm: env.MODEL_URL ? { baseURL: env.MODEL_URL, apiKey: "bench" } : {
        baseURL: "http://model.invalid/v1",
        fetch: replayFetch(encodeRecording(JSON.parse(env.RECORDING))),
      },
      maxFlows: 5000,
      maxFlowsPerClient: 5000,
      runs: { forward: () => Promise.resolve(new Response("bench: no runs", { status: 501 })) },
    });
    // deno-lint-ignore no-explicit-any
    return app.fetch(request, env, ctx as any);
  },
};
