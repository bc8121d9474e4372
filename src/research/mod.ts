/**
 * The seed's research flow on the public API: three specialists, a synthesizer, a logger and a
 * sink, wired in code or loaded from JSON; its events (src/research/events.ts) and their views.
 *
 * @module
 */
export {
  type AgentOptions,
  ConfiguredSpecialist,
  FactualResearcher,
  Logger,
  modelCallReporter,
  Quoter,
  type ResearchSink,
  Sink,
  Specialist,
  Statistician,
  Synthesizer,
} from "./agents.ts";
export {
  type AgentChunk,
  type AnswerEvent,
  type ChunkEvent,
  type DoneEvent,
  type ErrorEvent,
  type FinishEvent,
  isStopEarly,
  type NodeEvent,
  type NodeState,
  type ReasoningEvent,
  RESEARCH_EVENTS,
  type ResearchEvent,
  type UsageEvent,
} from "./events.ts";
export {
  formatJsonLines,
  type FormatOptions,
  formatSse,
  formatStream,
  formatText,
  type ResearchFormat,
} from "./format.ts";
export { errorEvent, researchEvents, type ResearchEventsOptions } from "./research_events.ts";
export {
  litWhileFlowRuns,
  researchActors,
  researchGraph,
  researchNetwork,
  type ResearchOptions,
  type ResearchResult,
  researchSink,
  runResearch,
  withTopic,
} from "./run_research.ts";
export {
  FLOW_USAGE_ID,
  formatUi,
  type ReflowPartMetadata,
  UI_MESSAGE_STREAM_HEADERS,
  UI_STREAM_END,
  type UIFinishReason,
  uiFrame,
  type UIMessageChunk,
  type UIMessageOptions,
  uiMessageParts,
} from "./ui_message_stream.ts";
