/**
 * The `useChat` example, served: `npx tsx examples/chat/serve.ts`, then open
 * http://127.0.0.1:8787/ . Uses the model server in OPENAI_BASE_URL / OPENAI_API_KEY /
 * REFLOW_MODEL when set, else the offline model that ships in the box. PORT changes the port.
 */
import { serve } from "@hono/node-server";
import { createApp } from "../../routes/app.ts";
import { createOfflineModel, REALISTIC_PACING } from "../../src/llm/mod.ts";
import { buildChatPage, withChatPage } from "./page.ts";

const env = (name: string) =>
  (globalThis as { process?: { env: Record<string, string> } }).process?.env[name];
const baseURL = env("OPENAI_BASE_URL");
const llm = baseURL
  ? { baseURL, apiKey: env("OPENAI_API_KEY"), model: env("REFLOW_MODEL") }
  : { fetch: createOfflineModel(REALISTIC_PACING).fetch };
const app = createApp({ llm });
const port = Number(env("PORT") ?? 8787);
serve({ fetch: withChatPage(app, await buildChatPage()), port, hostname: "127.0.0.1" }, (info) => {
  console.log(`useChat example: http://127.0.0.1:${info.port}/ (${baseURL ?? "offline model"})`);
});
