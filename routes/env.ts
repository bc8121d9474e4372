/**
 * The server's settings from its environment, read and checked in one place for every entry point
 * (`--serve` under Node and Deno, the Worker's bindings). A setting that is present but wrong is a
 * {@link SettingsError} with a one-line reason, so the server refuses to start rather than run
 * with, say, authentication silently off.
 *
 * @module
 */
import type { AppConfig } from "./app.ts";
import { TOKEN_SYNTAX } from "./auth.ts";

/** A setting is present but unusable; the message is the one line to show the operator. */
export class SettingsError extends Error {
  override name = "SettingsError";
}

/**
 * Reads one variable: undefined when unset, and an empty value as "" (REFLOW_TOKEN tells the two
 * apart; for every other setting an empty value means unset).
 */
export type EnvGetter = (name: string) => string | undefined;

/** The app's part of the settings (the model server's are read by each entry point). */
export type ServerSettings = Pick<
  AppConfig,
  | "token"
  | "cors"
  | "models"
  | "anyModel"
  | "maxFlows"
  | "maxFlowsPerClient"
  | "maxFlowStartsPerClientPerMinute"
  | "flowStartBurstPerClient"
  | "timeoutMs"
  | "bodyTimeoutMs"
  | "maxBodyBytes"
  | "verboseErrors"
  | "heartbeatMs"
  | "stallTimeoutMs"
  | "silentFlowMs"
  | "maxTokens"
  | "maxReplyBytes"
  | "maxPromptBytes"
>;

/**
 * Reads REFLOW_TOKEN, REFLOW_CORS, REFLOW_MODELS, REFLOW_ANY_MODEL, REFLOW_MAX_FLOWS,
 * REFLOW_MAX_FLOWS_PER_CLIENT, REFLOW_MAX_FLOW_STARTS_PER_MINUTE, REFLOW_FLOW_START_BURST,
 * REFLOW_TIMEOUT_MS, REFLOW_BODY_TIMEOUT_MS, REFLOW_MAX_BODY_BYTES,
 * REFLOW_HEARTBEAT_MS, REFLOW_STALL_TIMEOUT_MS, REFLOW_SILENT_FLOW_MS, REFLOW_MAX_TOKENS (a number,
 * or `2048,answer=4096`: per role label), REFLOW_MAX_REPLY_BYTES, REFLOW_MAX_PROMPT_BYTES and
 * REFLOW_VERBOSE_ERRORS. `model` is the default model the entry point chose (REFLOW_MODEL,
 * `--model`): with REFLOW_MODELS it must be one of them. Throws a {@link SettingsError}.
 *
 * @example
 * ```ts
 * const settings = serverSettings((name) => Deno.env.get(name), { model: "qwen2.5:3b" });
 * const app = createApp({ llm, ...settings });
 * ```
 */
export function serverSettings(get: EnvGetter, { model }: { model?: string } = {}): ServerSettings {
  const settings: ServerSettings = {};
  const token = get("REFLOW_TOKEN");
  if (token !== undefined) {
    if (token.trim() === "") {
      throw new SettingsError(
        "REFLOW_TOKEN is set but blank: set it to a token, or unset it to serve without auth",
      );
    }
    if (!TOKEN_SYNTAX.test(token)) {
      throw new SettingsError(
        "REFLOW_TOKEN may contain only letters, digits and . _ ~ + / - (then = padding), as a " +
          "bearer token must (RFC 6750)",
      );
    }
    settings.token = token;
  }
  const cors = list(get, "REFLOW_CORS");
  if (cors) settings.cors = cors;
  const models = list(get, "REFLOW_MODELS");
  if (models) {
    if (model !== undefined && !models.includes(model)) {
      throw new SettingsError(
        `the default model ${model} (REFLOW_MODEL or --model) is not in REFLOW_MODELS ` +
          `(${models.join(", ")}): add it there, or unset it to default to ${models[0]}`,
      );
    }
    settings.models = model === undefined ? models : [model, ...models.filter((m) => m !== model)];
  }
  const anyModel = flag(get, "REFLOW_ANY_MODEL");
  if (anyModel !== undefined) {
    if (anyModel && models) {
      throw new SettingsError("set REFLOW_MODELS or REFLOW_ANY_MODEL, not both");
    }
    settings.anyModel = anyModel;
  }
  const number = (name: string, key: keyof ServerSettings) => {
    const n = wholeNumber(get, name);
    if (n !== undefined) (settings as Record<string, unknown>)[key] = n;
  };
  number("REFLOW_MAX_FLOWS", "maxFlows");
  number("REFLOW_MAX_FLOWS_PER_CLIENT", "maxFlowsPerClient");
  number("REFLOW_MAX_FLOW_STARTS_PER_MINUTE", "maxFlowStartsPerClientPerMinute");
  number("REFLOW_FLOW_START_BURST", "flowStartBurstPerClient");
  number("REFLOW_TIMEOUT_MS", "timeoutMs");
  number("REFLOW_BODY_TIMEOUT_MS", "bodyTimeoutMs");
  number("REFLOW_MAX_BODY_BYTES", "maxBodyBytes");
  number("REFLOW_HEARTBEAT_MS", "heartbeatMs");
  number("REFLOW_STALL_TIMEOUT_MS", "stallTimeoutMs");
  number("REFLOW_SILENT_FLOW_MS", "silentFlowMs");
  number("REFLOW_MAX_REPLY_BYTES", "maxReplyBytes");
  number("REFLOW_MAX_PROMPT_BYTES", "maxPromptBytes");
  const tokens = list(get, "REFLOW_MAX_TOKENS");
  if (tokens) {
    const byRole: Record<string, number> = {};
    for (const item of tokens) {
      const [role, value] = item.includes("=") ? item.split("=", 2) : ["*", item];
      const n = Number(value.trim());
      if (!role.trim() || !Number.isSafeInteger(n) || n < 1) {
        throw new SettingsError(
          `REFLOW_MAX_TOKENS must be a whole number, or role=number pairs such as ` +
            `2048,answer=4096 (got ${quote(item)})`,
        );
      }
      byRole[role.trim()] = n;
    }
    settings.maxTokens = byRole;
  }
  const verbose = flag(get, "REFLOW_VERBOSE_ERRORS");
  if (verbose !== undefined) settings.verboseErrors = verbose;
  return settings;
}

/** A whole number ≥ 1 from `name`, undefined when unset; a {@link SettingsError} otherwise. */
export function wholeNumber(get: EnvGetter, name: string): number | undefined {
  const raw = get(name);
  if (raw === undefined || raw === "") return undefined;
  const n = Number(raw.trim());
  if (raw.trim() === "" || !Number.isSafeInteger(n) || n < 1) {
    throw new SettingsError(`${name} must be a whole number of at least 1 (got ${quote(raw)})`);
  }
  return n;
}

function flag(get: EnvGetter, name: string): boolean | undefined {
  const raw = get(name);
  if (raw === undefined || raw === "") return undefined;
  if (/^(1|true|yes|on)$/i.test(raw.trim())) return true;
  if (/^(0|false|no|off)$/i.test(raw.trim())) return false;
  throw new SettingsError(`${name} must be 1/true/yes or 0/false/no (got ${quote(raw)})`);
}

function list(get: EnvGetter, name: string): string[] | undefined {
  const raw = get(name);
  if (raw === undefined || raw === "") return undefined;
  const items = raw.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) {
    throw new SettingsError(
      `${name} is set but lists nothing: give comma-separated values, or unset it`,
    );
  }
  return items;
}

function quote(raw: string): string {
  return JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}…` : raw);
}
