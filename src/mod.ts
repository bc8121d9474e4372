/**
 * reflow-edge: Reflow's actor model for LLM agents on WHATWG streams.
 *
 * @example
 * ```ts
 * import { Actor, Message, Network } from "reflow-edge";
 * ```
 * @module
 */
export {
  Actor,
  type ActorClass,
  type ActorContext,
  type ActorFactory,
  type ActorLike,
} from "./actor.ts";
export { type ActorTemplate, defineActor } from "./actor.ts";
export { DEFAULT_CAPACITY } from "./connection.ts";
export { ActorError, NetworkError, TickTimeoutError } from "./errors.ts";
export type * from "./events.ts";
export {
  isMessage,
  type Json,
  MAX_WIRE_DEPTH,
  Message,
  MESSAGE_TYPES,
  messageFromWire,
  messageToWire,
  type MessageType,
  type Packet,
  type WireMessage,
  WireMessageSchema,
} from "./message.ts";
export {
  type ConnectionInfo,
  type ConnectionOptions,
  type InitialInfo,
  Network,
  type NetworkOptions,
  type NodeInfo,
  type Waiting,
} from "./network.ts";
export type { NodeMetadata } from "./node.ts";
export {
  GraphError,
  type GraphIssue,
  type GraphSpec,
  initialMessage,
  loadGraph,
  parseGraph,
  type ReflowGraphJson,
  toGraphJson,
} from "./graph.ts";
export { toMermaid } from "./mermaid.ts";
