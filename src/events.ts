import type { Message, Packet } from "./message.ts";
import type { ModelCallEnd, ModelCallError, ModelCallStart } from "./llm/call_events.ts";

/** Emitted once by `start()`. */
export interface NetworkStarted {
  _type: "NetworkStarted";
  timestamp: number;
}
/** A tick begins on a node. */
export interface ActorStarted {
  _type: "ActorStarted";
  actorId: string;
  component: string;
  /** 1, then 2… when node metadata `retry` re-runs a failed tick (see `ctx.attempt`). */
  attempt: number;
  timestamp: number;
}
/** A packet entered a connection (one event per connection copy). */
export interface MessageSent {
  _type: "MessageSent";
  fromActor: string;
  fromPort: string;
  toActor: string;
  toPort: string;
  message: Message;
  timestamp: number;
}
/** A tick ended; `outputs` is what it passed to `done`, if anything. */
export interface ActorCompleted {
  _type: "ActorCompleted";
  actorId: string;
  component: string;
  attempt: number;
  outputs?: Packet;
  timestamp: number;
}
/** A tick threw, was rejected or timed out. `error` is the message; `cause` the thrown value. */
export interface ActorFailed {
  _type: "ActorFailed";
  actorId: string;
  component: string;
  /** The last attempt; earlier failed attempts that `retry` re-ran emit no ActorFailed. */
  attempt: number;
  error: string;
  cause: unknown;
  timestamp: number;
}
/** No packet is in flight and no tick runs. */
export interface NetworkIdle {
  _type: "NetworkIdle";
  timestamp: number;
}
/** `shutdown()` ran, or fail-fast stopped the network. */
export interface NetworkShutdown {
  _type: "NetworkShutdown";
  timestamp: number;
}

/**
 * An actor is about to call a model (one HTTP request), reported by the actor through
 * `ctx.report()` while its tick runs; the research agents forward what `streamChat` tells them.
 * OpenTelemetry makes a `chat {model}` span of each call, child of the tick's span.
 */
export interface ModelCallStarted extends Omit<ModelCallStart, "type"> {
  _type: "ModelCallStarted";
  actorId: string;
  component: string;
  timestamp: number;
}
/** The model call ended with an answer: finish reason, usage, time to first chunk. */
export interface ModelCallFinished extends Omit<ModelCallEnd, "type"> {
  _type: "ModelCallFinished";
  actorId: string;
  component: string;
  timestamp: number;
}
/** The model call failed (`code` is the `LlmError` code; `retryInMs` when it will be retried). */
export interface ModelCallFailed extends Omit<ModelCallError, "type"> {
  _type: "ModelCallFailed";
  actorId: string;
  component: string;
  timestamp: number;
}

/** Events an actor reports about its own tick (`ctx.report`). */
export type ActorEvent = ModelCallStarted | ModelCallFinished | ModelCallFailed;

/** What an actor passes to `ctx.report`: the network fills in `actorId`, `component`, `timestamp`. */
export type ActorEventInit = ActorEvent extends infer E
  ? E extends ActorEvent ? Omit<E, "actorId" | "component" | "timestamp"> : never
  : never;

/** Everything a network reports, discriminated by `_type`. */
export type NetworkEvent =
  | NetworkStarted
  | ActorStarted
  | MessageSent
  | ActorCompleted
  | ActorFailed
  | NetworkIdle
  | NetworkShutdown
  | ActorEvent;
