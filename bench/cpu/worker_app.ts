/**
 * `bench:cpu`'s app inside workerd, as a run's Durable Object serves it in production (worker.ts
 * forwards each SSE `/research` to the run's own object, which leads the run with the app's Runs):
 * here the run log is kept in the isolate's memory instead of the object's SQLite, and the
 * Worker-to-object hop is not in the figure. The model is the replay in-process (the text binding
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
    });
    // deno-lint-ignore no-explicit-any
    return app.fetch(request, env, ctx as any);
  },
};
