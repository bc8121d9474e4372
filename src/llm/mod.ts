/**
 * The LLM layer: streaming chat completions against any OpenAI-compatible endpoint, and an
 * offline model that speaks the same protocol in-process.
 *
 * @example
 * ```ts
 * import { createOfflineModel, streamChat, streamChatText } from "./llm/mod.ts";
 * const offline = createOfflineModel();
 * for await (const text of streamChatText({ system, user, fetch: offline.fetch })) write(text);
 * for await (const delta of streamChat({ system, user, fetch: offline.fetch })) {
 *   if (delta.type === "reasoning") dim(delta.text);
 * }
 * ```
 * @module
 */
export {
  DEFAULT_LLM_CONFIG,
  type LlmConfig,
  type ResolvedLlmConfig,
  resolveLlmConfig,
} from "./config.ts";
export { isAbortError, LlmError, type LlmErrorCode, type LlmErrorInit } from "./errors.ts";
export { retryAfterMs, streamChat, type StreamChatOptions, streamChatText } from "./stream_chat.ts";
export {
  addUsage,
  type ChatDelta,
  type FinishDelta,
  type FinishReason,
  type ReasoningDelta,
  type TextDelta,
  type TokenUsage,
  type UsageDelta,
} from "./deltas.ts";
export type {
  ModelCallEnd,
  ModelCallError,
  ModelCallEvent,
  ModelCallInfo,
  ModelCallStart,
} from "./call_events.ts";
export {
  SERVER_NAMES,
  serverFromResponse,
  serverFromUrl,
  type ServerInfo,
  type ServerKind,
} from "./servers.ts";
export { openAIClient } from "./client_cache.ts";
export {
  createOfflineModel,
  OFFLINE_MODELS,
  type OfflineErrorShape,
  type OfflineFault,
  type OfflineModel,
  type OfflineModelOptions,
  type OfflineModelStats,
  type OfflinePacing,
  type OfflineReasoning,
  type OfflineRequestInfo,
  REALISTIC_PACING,
} from "./offline_model.ts";
export {
  detectRole,
  offlineReasoning,
  offlineReply,
  type OfflineRole,
  offlineTokens,
  parseTopic,
} from "./offline_text.ts";
