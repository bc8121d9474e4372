/**
 * What the LLM layer reports about each model call (each HTTP request, so a retried call is
 * several), for whoever listens: `streamChat({ onCall })`. The research agents forward these to
 * the network as `ModelCallStarted` / `ModelCallFinished` / `ModelCallFailed` events with their
 * `actorId`; OpenTelemetry makes a span of each (a `chat {model}` span, child of the tick's span).
 * The fields carry what the GenAI semantic conventions ask for: `gen_ai.provider.name`,
 * `gen_ai.request.model`, `server.address`/`server.port`, `gen_ai.response.id`/`model`,
 * `gen_ai.response.finish_reasons`, `gen_ai.usage.*`, `gen_ai.response.time_to_first_chunk` and
 * `error.type`. Nothing here contains the API key.
 *
 * @module
 */
import type { FinishReason, TokenUsage } from "./deltas.ts";
import type { LlmErrorCode } from "./errors.ts";
import type { ServerKind } from "./servers.ts";

/** Fields every report of one call has. */
export interface ModelCallInfo {
  /** Unique per call within the process (an attempt of a retried call is a call of its own). */
  callId: string;
  /** 1 for the first request of a `streamChat`, 2… for its retries. */
  attempt: number;
  /** The model asked for (`gen_ai.request.model`). */
  model: string;
  baseURL: string;
  /** Host of the base URL (`server.address`). */
  serverAddress: string;
  /** Port, when the base URL names one (`server.port`). */
  serverPort?: number;
  /** The server as recognised from the base URL (`gen_ai.provider.name`: see README). */
  server: ServerKind;
}

/** The request is about to be sent. */
export interface ModelCallStart extends ModelCallInfo {
  type: "start";
  temperature: number;
  maxTokens?: number;
  /** The prompts (references to the caller's strings: free), for opt-in content capture. */
  system: string;
  user: string;
}

/** The call finished with an answer. */
export interface ModelCallEnd extends ModelCallInfo {
  type: "end";
  finishReason: FinishReason;
  usage?: TokenUsage;
  /** The response's `id` (`gen_ai.response.id`). */
  responseId?: string;
  /** The model that answered, as the response names it (`gen_ai.response.model`). */
  responseModel?: string;
  /** From sending the request to the first text or reasoning delta. */
  timeToFirstChunkMs?: number;
  durationMs: number;
  /** The answer's text (gathered only when someone listens), for opt-in content capture. */
  text: string;
}

/** The call failed (`error.type` = `code`). */
export interface ModelCallError extends ModelCallInfo {
  type: "error";
  code: LlmErrorCode;
  status?: number;
  /** The error's message (no key in it). */
  message: string;
  /** Set when the LLM layer will retry after this long. */
  retryInMs?: number;
  timeToFirstChunkMs?: number;
  durationMs: number;
}

/** One report about one call. */
export type ModelCallEvent = ModelCallStart | ModelCallEnd | ModelCallError;
