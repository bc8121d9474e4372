/**
 * The LLM layer: streaming chat completions against any OpenAI-compatible endpoint, and an
 * offline model that speaks the same protocol in-process.
 *
 * @example
 * ```ts
 * import { createOfflineModel, streamChat } from "./llm/mod.ts";
 * const offline = createOfflineModel();
 * for await (const delta of streamChat({ system, user, fetch: offline.fetch })) write(delta);
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
export { streamChat, type StreamChatOptions } from "./stream_chat.ts";
export { openAIClient } from "./client_cache.ts";
export {
  createOfflineModel,
  OFFLINE_MODELS,
  type OfflineFault,
  type OfflineModel,
  type OfflineModelOptions,
  type OfflineModelStats,
  type OfflinePacing,
  type OfflineRequestInfo,
  REALISTIC_PACING,
} from "./offline_model.ts";
export {
  detectRole,
  offlineReply,
  type OfflineRole,
  offlineTokens,
  parseTopic,
} from "./offline_text.ts";
