import type { Message, Packet } from "./message.ts";

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

/** Everything a network reports, discriminated by `_type`. */
export type NetworkEvent =
  | NetworkStarted
  | ActorStarted
  | MessageSent
  | ActorCompleted
  | ActorFailed
  | NetworkIdle
  | NetworkShutdown;
