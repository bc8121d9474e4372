/**
 * The seed's research flow on the public API: three specialists, a synthesizer, a logger and a
 * sink, wired in code or loaded from JSON.
 *
 * @module
 */
export {
  FactualResearcher,
  Logger,
  Quoter,
  Sink,
  Specialist,
  Statistician,
  Synthesizer,
} from "./agents.ts";
export {
  type ChunkFormat,
  formatJsonLines,
  formatSse,
  formatText,
  type ResearchChunk,
} from "./format.ts";
export {
  researchActors,
  researchGraph,
  researchNetwork,
  type ResearchOptions,
  runResearch,
} from "./run_research.ts";
export {
  FLOW_USAGE_ID,
  type ReflowPartMetadata,
  UI_MESSAGE_STREAM_HEADERS,
  type UIFinishReason,
  type UIMessageChunk,
  uiMessageChunks,
  type UIMessageOptions,
  uiMessageSse,
  type UISourceEvent,
  type UIUsage,
} from "./ui_message_stream.ts";
