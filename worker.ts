/**
 * The Cloudflare Workers entry (named by wrangler.toml): the same Hono app as `--serve`.
 *
 * Bindings (vars or secrets): OPENAI_BASE_URL, OPENAI_API_KEY, REFLOW_MODEL, REFLOW_TOKEN,
 * REFLOW_CORS (comma-separated origins), REFLOW_OFFLINE ("1" forces the offline model),
 * REFLOW_OFFLINE_TOKEN_DELAY_MS / REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS (its pacing). A Worker has
 * no local Ollama, so without OPENAI_BASE_URL it answers with the in-process offline model.
 *
 * @module
 */
import type { Hono } from "hono";
import { createApp } from "./routes/app.ts";
import { createOfflineModel } from "./src/llm/offline_model.ts";
import type { LlmConfig } from "./src/llm/config.ts";

/** The Worker's bindings this entry reads; all optional. */
export interface Env {
  OPENAI_BASE_URL?: string;
  OPENAI_API_KEY?: string;
  REFLOW_MODEL?: string;
  REFLOW_TOKEN?: string;
  REFLOW_CORS?: string;
  REFLOW_OFFLINE?: string;
  REFLOW_OFFLINE_TOKEN_DELAY_MS?: string;
  REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS?: string;
}

/** The same pacing as the CLI's offline model: quick, but slow enough to watch. */
const OFFLINE_PACING = { tokenDelayMs: 12, firstTokenDelayMs: 120 };

const KEYS: (keyof Env)[] = [
  "OPENAI_BASE_URL",
  "OPENAI_API_KEY",
  "REFLOW_MODEL",
  "REFLOW_TOKEN",
  "REFLOW_CORS",
  "REFLOW_OFFLINE",
  "REFLOW_OFFLINE_TOKEN_DELAY_MS",
  "REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS",
];

// One app per isolate and configuration (bindings only change with a new deployment, but an
// isolate may serve several environments in local development).
let cached: { key: string; app: Hono } | undefined;

function setting(env: Env, name: keyof Env): string | undefined {
  const value = env[name];
  return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function delay(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return value !== undefined && Number.isFinite(n) && n >= 0 ? n : fallback;
}

/** Builds the app for these bindings. */
export function appFor(env: Env = {}): Hono {
  const key = JSON.stringify(KEYS.map((k) => setting(env, k) ?? null));
  if (cached?.key === key) return cached.app;
  const baseURL = setting(env, "OPENAI_BASE_URL");
  const offline = /^(1|true|yes)$/i.test(setting(env, "REFLOW_OFFLINE") ?? "") || !baseURL;
  const llm: LlmConfig = {
    baseURL,
    apiKey: setting(env, "OPENAI_API_KEY"),
    model: setting(env, "REFLOW_MODEL"),
  };
  if (offline) {
    llm.fetch = createOfflineModel({
      tokenDelayMs: delay(
        setting(env, "REFLOW_OFFLINE_TOKEN_DELAY_MS"),
        OFFLINE_PACING.tokenDelayMs,
      ),
      firstTokenDelayMs: delay(
        setting(env, "REFLOW_OFFLINE_FIRST_TOKEN_DELAY_MS"),
        OFFLINE_PACING.firstTokenDelayMs,
      ),
    }).fetch;
  }
  const cors = setting(env, "REFLOW_CORS")?.split(",").map((s) => s.trim()).filter(Boolean);
  const app = createApp({
    llm,
    token: setting(env, "REFLOW_TOKEN"),
    cors: cors?.length ? cors : undefined,
  });
  cached = { key, app };
  return app;
}

export default {
  fetch(request: Request, env: Env, ctx: unknown): Response | Promise<Response> {
    // deno-lint-ignore no-explicit-any
    return appFor(env).fetch(request, env, ctx as any);
  },
};
