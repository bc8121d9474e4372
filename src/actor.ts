import type { ActorEvent, ActorEventInit } from "./events.ts";
import type { Message, Packet } from "./message.ts";

/**
 * What an actor's `run` receives for one tick.
 *
 * @example
 * ```ts
 * async run(ctx: ActorContext) {
 *   const topic = ctx.inputs.topic.data as string;
 *   await ctx.send({ chunk: Message.string(topic) }); // the consumer may fire now
 *   ctx.done({ finding: Message.string(topic.toUpperCase()) });
 * }
 * ```
 */
export interface ActorContext {
  /** The node this tick runs on. */
  readonly nodeId: string;
  /** The messages that fired this tick, by inport. */
  readonly inputs: Readonly<Record<string, Message>>;
  /** The node's metadata, as given to `addNode` or in the graph JSON. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Aborts on shutdown, fail-fast and tick timeout. Pass it to every fetch and wait. */
  readonly signal: AbortSignal;
  /** Which attempt this is: 1, then 2… when the node's `retry` metadata re-runs a failed tick. */
  readonly attempt: number;
  /**
   * For inputs that came in on an addressable (array) inport: the index they arrived on, by
   * port (`ctx.indexes.in === 1` for a packet that came through `IN[1]`).
   */
  readonly indexes: Readonly<Record<string, number>>;
  /** The indexes connected to an addressable port (inport or outport), ascending. */
  attached(port: string): number[];
  /**
   * Flushes a packet downstream now; resolves when every connection accepted it. A full connection
   * makes this wait: that is the backpressure. On an addressable outport, `index` chooses the one
   * connection slot the packet goes to (required there; see {@link SendOptions}).
   */
  send(packet: Packet, options?: SendOptions): Promise<void>;
  /** Ends the tick with its final packet. A second call in the same tick throws. */
  done(outputs?: Packet, options?: SendOptions): void;
  /**
   * True when someone listens to network events of this type. Check it before building an
   * event, so that a network nobody observes pays nothing.
   */
  listens(type: ActorEvent["_type"]): boolean;
  /**
   * Reports an event about this tick to the network's listeners of its type, with `actorId`,
   * `component` and `timestamp` filled in. Does nothing when nobody listens.
   *
   * @example
   * ```ts
   * const onCall = ctx.listens("ModelCallFinished")
   *   ? (e: ModelCallEvent) => e.type === "end" && ctx.report({ ...e, _type: "ModelCallFinished" })
   *   : undefined;
   * ```
   */
  report(event: ActorEventInit): void;
}

/** Where a packet goes on addressable (array) outports. */
export interface SendOptions {
  /**
   * The slot of every addressable outport in the packet: only the connections attached at that
   * index get it (none attached: it is dropped, as in NoFlo). Required for addressable outports,
   * refused for the others.
   */
  index?: number;
}

/** The shape the network runs: ports and a `run` per tick. */
export interface ActorLike {
  readonly inports: readonly string[];
  readonly outports: readonly string[];
  /** Fire only when every inport holds a packet, taking one from each. */
  readonly awaitAllInports?: boolean;
  /** Optional component name, shown in events. */
  readonly component?: string;
  /**
   * Ports (inports or outports) that are addressable, as NoFlo's array ports: each connection
   * has an index, a send names the index it goes to, and a tick learns the index it came from.
   */
  readonly addressable?: readonly string[];
  run(ctx: ActorContext): unknown;
}

/**
 * Base class for actors, as in Reflow: declare ports as fields, implement `run`.
 *
 * @example
 * ```ts
 * class Upper extends Actor {
 *   inports = ["in"];
 *   outports = ["out"];
 *   run(ctx: ActorContext) {
 *     ctx.done({ out: Message.string(String(ctx.inputs.in.data).toUpperCase()) });
 *   }
 * }
 * ```
 */
export abstract class Actor implements ActorLike {
  inports: readonly string[] = [];
  outports: readonly string[] = [];
  awaitAllInports = false;
  component?: string;
  addressable?: readonly string[];
  abstract run(ctx: ActorContext): unknown;
}

/** A class whose instances are actors. */
export type ActorClass = new () => ActorLike;
/**
 * A function that makes a fresh actor for each node; it gets the node's metadata (its
 * `ctx.config`), so that one component can be configured per node from the graph.
 */
export type ActorFactory = (config: Readonly<Record<string, unknown>>) => ActorLike;
/**
 * What `registerActor` accepts: a class or a factory (a fresh instance per node) or an instance
 * (usable by one node only, so that two nodes never share state by accident).
 */
export type ActorTemplate = ActorClass | ActorFactory | ActorLike;

/** Defines an actor from a plain object, for actors that keep no state of their own. */
export function defineActor(spec: ActorLike): ActorLike {
  return spec;
}

export function isActorClass(template: ActorTemplate): template is ActorClass {
  return typeof template === "function" &&
    typeof (template as { prototype?: { run?: unknown } }).prototype?.run === "function";
}
