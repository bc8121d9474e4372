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
  type SendOptions,
} from "./actor.ts";
export { type ActorTemplate, defineActor } from "./actor.ts";
export { DEFAULT_CAPACITY } from "./connection.ts";
export { ActorError, NetworkError, TickTimeoutError, type WiringField } from "./errors.ts";
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
  type ConnectionOptions,
  type InitialOptions,
  Network,
  type NetworkOptions,
  type Waiting,
} from "./network.ts";
export type { NodeMetadata } from "./node.ts";
export {
  type Graph,
  type GraphEdge,
  GraphError,
  type GraphExportedPort,
  type GraphGroup,
  type GraphInitial,
  type GraphIssue,
  type GraphNode,
  type GraphPortRef,
  initialMessage,
  loadGraph,
  parseGraph,
  type ReflowEnd,
  type ReflowGraphJson,
  toGraphJson,
} from "./graph.ts";
export { toMermaid } from "./mermaid.ts";
