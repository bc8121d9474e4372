/**
 * What an HTTP client sees of a failed flow, rendered in this one place: a stable `code`, the
 * node (agent) that failed, and a message that says what failed and what to try. The model server's host
 * and its own words go to the server log only ({@link logLine}), unless the operator turns on
 * verbose errors. Every text passes through the server's {@link Scrubber}.
 *
 * @module
 */
import { ActorError, describe, TickTimeoutError } from "../src/errors.ts";
import { LlmError } from "../src/llm/errors.ts";
import type { Scrubber } from "./secrets.ts";

/** A flow's failure as a client sees it (`event: error` data, the text format's `error:` line). */
export interface ClientError {
  /**
   * Stable: the model call's {@link LlmError} code (`unreachable`, `unauthorized`,
   * `model_not_found`, `rate_limited`, `quota_exceeded`, `context_too_long`, `server_error`,
   * `timeout`, `bad_stream`, `empty_answer`, `bad_request`), or
   * `flow_timeout` (the flow ran past its time limit), `agent_timeout` (a node's `timeoutMs`),
   * `client_stalled` (the client stopped reading), `internal` (anything else).
   */
  code: string;
  message: string;
  /** The graph node that failed, when one did (as the research vocabulary's `error` names it). */
  node?: string;
}

/** How to render: the server's scrubber, and whether the client may see the full detail. */
export interface RenderOptions {
  scrub: Scrubber;
  /** Show the client the full (scrubbed) message, upstream host and words included. */
  verbose?: boolean;
}

/**
 * Renders `error` for a client.
 *
 * @example
 * ```ts
 * const shown = clientError(error, { scrub });
 * // { code: "unauthorized", node: "statistician", message: "the model server refused … " }
 * ```
 */
export function clientError(error: unknown, options: RenderOptions): ClientError {
  const agent = error instanceof ActorError ? error.nodeId : undefined;
  const cause = error instanceof ActorError ? error.cause : error;
  const llm = findLlmError(cause);
  const { code, message } = llm ? llmMessage(llm, agent) : cause instanceof TickTimeoutError
    ? {
      code: "agent_timeout",
      message: `agent "${cause.nodeId}" ran past its time limit of ${seconds(cause.timeoutMs)}; ` +
        "try again later",
    }
    : isNamed(cause, "TimeoutError")
    ? {
      code: "flow_timeout",
      message: `${describe(cause)}; the server stopped it: try again, or a narrower topic`,
    }
    : isNamed(cause, "ClientStalledError")
    ? { code: "client_stalled", message: describe(cause) }
    : {
      code: "internal",
      message: `the research flow failed${agent ? ` in agent "${agent}"` : ""}; ` +
        "the server's log has the details",
    };
  return {
    code,
    message: options.scrub(options.verbose ? describe(error) : message),
    ...(agent === undefined ? {} : { node: agent }),
  };
}

/** The server log's line for `error`: everything, scrubbed of every secret. */
export function logLine(error: unknown, scrub: Scrubber): string {
  return scrub(describe(error)).replace(/\s+/g, " ");
}

function llmMessage(error: LlmError, agent: string | undefined): { code: string; message: string } {
  const where = agent ? ` (agent "${agent}", model "${error.model}")` : ` (model "${error.model}")`;
  const wait = error.retryAfterMs;
  const after = typeof wait === "number" && Number.isFinite(wait) && wait >= 0
    ? `in ${Math.max(1, Math.ceil(wait / 1000))} s`
    : "in a minute";
  const message = (() => {
    switch (error.code) {
      case "unreachable":
        return `the model server did not answer${where}; try again later ` +
          "(the server's operator should check that the model server is running)";
      case "unauthorized":
        return `the model server refused this server's credentials${where}; ` +
          "the server's operator must fix its API key";
      case "model_not_found":
        return `the model server does not know the model${where}; ` +
          "choose another model, or ask the server's operator";
      case "rate_limited":
        return `the model server is rate limiting${where}; try again ${after}`;
      case "quota_exceeded":
        return `the model server's quota or billing limit is used up${where}; ` +
          "the server's operator must raise it";
      case "context_too_long":
        return `the request is too long for the model's context${where}; ` +
          "try a shorter topic, or ask the server's operator for a model with a longer context";
      case "server_error":
        return `the model server failed${where}; try again later`;
      case "timeout":
        return `the model took too long to answer${where}; try again later`;
      case "bad_stream":
        return `the model server sent a malformed reply${where}; try again, and tell the ` +
          "server's operator if it persists";
      case "empty_answer":
        return `the model answered with nothing${where}; try again`;
      case "bad_request":
        return `the model server rejected the request${where}; ` +
          "the server's operator should check the model settings";
      default:
        return `the model call failed${where} (${error.code}); try again later`;
    }
  })();
  return { code: error.code, message };
}

function findLlmError(error: unknown): LlmError | undefined {
  for (let e = error, depth = 0; e && depth < 5; depth++) {
    if (e instanceof LlmError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function isNamed(error: unknown, name: string): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === name;
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
