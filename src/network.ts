import { type ActorLike, type ActorTemplate, isActorClass } from "./actor.ts";
import {
  closeConnection,
  DEFAULT_CAPACITY,
  type OpenConnection,
  openConnection,
} from "./connection.ts";
import { abortError, ActorError, describe, NetworkError, type WiringField } from "./errors.ts";
import type { ActorEvent, ActorEventInit, NetworkEvent } from "./events.ts";
import type { Graph, GraphPortRef } from "./graph/model.ts";
import { isCheckedMessage, Message, messageFromWire, messageToWire } from "./message.ts";
import { type NodeMetadata, NodeRunner, type OutEdge, type Scheduler } from "./node.ts";
import { capacityFault, indexFault, portFault } from "./wiring.ts";

/** How a network treats a failing tick, and what it reports about itself. */
export interface NetworkOptions {
  /**
   * `true`: the first failure aborts every tick, shuts the network down and rejects `whenIdle()`
   * with an {@link ActorError}. `false` (default): the failure is reported (`ActorFailed`, and the
   * `error` outport if the actor declares one) and the rest of the graph goes on.
   */
  failFast?: boolean;
  /** Capacity of connections that do not set their own (default 64 packets). */
  capacity?: number;
  /**
   * The parts of a graph that are not wiring (name, properties, exported ports, groups, keys of
   * the source document), reported back by {@link Network.describe}. `loadGraph` sets them.
   */
  graph?: Partial<
    Pick<
      Graph,
      "name" | "caseSensitive" | "properties" | "inports" | "outports" | "groups" | "extra"
    >
  >;
}

/** Per-connection settings. */
export interface ConnectionOptions {
  /** Packets the connection holds before `send` waits (default: the network's, 64). */
  capacity?: number;
  metadata?: Record<string, unknown>;
  /** The slot on the source's addressable outport (`OUT[1]`). */
  fromIndex?: number;
  /** The slot on the target's addressable inport (`IN[0]`). */
  toIndex?: number;
  /** Keys of the source document kept for the round trip (see {@link Graph}). */
  extra?: {
    edge?: Record<string, unknown>;
    from?: Record<string, unknown>;
    to?: Record<string, unknown>;
  };
}

/** Per-initial-packet settings. */
export interface InitialOptions {
  /** The slot on an addressable inport. */
  index?: number;
  metadata?: Record<string, unknown>;
  /**
   * The packet's JSON as a graph document wrote it (kept by {@link Network.describe}); by default
   * the plainest JSON that reads back as the same message.
   */
  data?: unknown;
  extra?: { initial?: Record<string, unknown>; to?: Record<string, unknown> };
}

/** A join (`awaitAllInports`) node holding packets while some inports are still empty. */
export interface Waiting {
  actorId: string;
  ports: string[];
}

type Listener = (event: NetworkEvent) => void;

interface EdgeInfo {
  from: string;
  outport: string;
  fromIndex?: number;
  to: string;
  inport: string;
  toIndex?: number;
  capacity?: number;
  metadata: Record<string, unknown>;
  extra?: ConnectionOptions["extra"];
}

interface InitialInfo {
  node: string;
  port: string;
  index?: number;
  message: Message;
  data: unknown;
  metadata: Record<string, unknown>;
  extra?: InitialOptions["extra"];
}

/** How often a busy pump yields to the macrotask queue, so timers and I/O are never starved. */
const YIELD_EVERY = 8192;

/**
 * A graph of actors wired by bounded WHATWG streams.
 *
 * @example
 * ```ts
 * const net = new Network();
 * net.registerActor("tpl_upper", Upper);
 * net.addNode("upper", "tpl_upper");
 * net.addNode("print", "tpl_print");
 * net.addConnection("upper", "out", "print", "in");
 * net.addInitial("upper", "in", Message.string("hello"));
 * await net.start();
 * await net.whenIdle();
 * await net.shutdown();
 * ```
 */
export class Network {
  readonly #templates = new Map<string, ActorTemplate>();
  /** Instances registered as templates, and the node that took each. */
  #instanceOwners: Map<ActorLike, string> | undefined;
  readonly #nodes = new Map<string, NodeRunner>();
  readonly #edges: EdgeInfo[] = [];
  readonly #initials: InitialInfo[] = [];
  readonly #capacity: number;
  readonly #graph: NonNullable<NetworkOptions["graph"]>;
  readonly #engine: Engine;

  constructor(options: NetworkOptions = {}) {
    const fault = capacityFault(options.capacity ?? DEFAULT_CAPACITY);
    if (fault) throw new NetworkError(`network ${fault}`, "capacity", fault);
    this.#capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.#graph = options.graph ?? {};
    this.#engine = new Engine(options.failFast ?? false, this.#nodes);
  }

  /** Aborts when the network shuts down or fails fast. */
  get signal(): AbortSignal {
    return this.#engine.signal;
  }

  /** Whether the network has shut down (or failed fast). */
  get stopped(): boolean {
    return this.#engine.stopped;
  }

  /** Whether anyone listens to tick events: they are built only then (read-only). */
  get listening(): boolean {
    return this.#engine.listening;
  }

  /**
   * Registers an actor template under a name: a class or a factory makes a fresh actor for each
   * node; an instance may back one node only.
   */
  registerActor(name: string, template: ActorTemplate): this {
    this.#assertNew("registerActor");
    if (typeof name !== "string" || name === "") {
      throw new NetworkError(`registerActor: the template name must be a non-empty string`);
    }
    if (typeof template !== "function" && !isActorShape(template)) {
      throw new NetworkError(
        `registerActor("${name}"): expected an actor class, a factory or an instance with ` +
          `inports, outports and run()`,
      );
    }
    this.#templates.set(name, template);
    return this;
  }

  /** Adds a node running a fresh actor of `template`; `metadata` becomes its `ctx.config`. */
  addNode(id: string, template: string, metadata: NodeMetadata = {}): this {
    this.#assertNew("addNode");
    const where = `addNode("${id}")`;
    if (typeof id !== "string" || id === "") {
      throw new NetworkError(`addNode: the node id must be a non-empty string`, "id");
    }
    if (this.#nodes.has(id)) fail(where, "id", `a node "${id}" exists already`);
    const tpl = this.#templates.get(template);
    if (tpl === undefined) {
      fail(
        where,
        "template",
        `no actor registered as "${template}" (registered: ${
          [...this.#templates.keys()].join(", ") || "none"
        })`,
      );
    }
    const metaFault = metadataFault(metadata);
    if (metaFault) fail(where, "metadata", metaFault);
    const config = { ...metadata };
    const actor = this.#instantiate(id, template, tpl, config);
    const component = actor.component ?? template;
    this.#nodes.set(id, new NodeRunner(id, template, component, actor, config, this.#engine));
    return this;
  }

  /**
   * Connects `from`'s outport to `to`'s inport through a bounded stream. On addressable (array)
   * ports, `fromIndex` / `toIndex` choose the slot; an edge without one takes the next free slot
   * in the order edges were added, as NoFlo attaches sockets.
   */
  addConnection(
    from: string,
    outport: string,
    to: string,
    inport: string,
    options: ConnectionOptions = {},
  ): this {
    this.#assertNew("addConnection");
    const where = `addConnection("${from}", "${outport}", "${to}", "${inport}")`;
    const source = this.#node(from, where, "from");
    const target = this.#node(to, where, "to");
    if (!source.outs.has(outport)) {
      fail(
        where,
        "outport",
        `node "${from}" ${portFault(from, "outport", outport, source.actor.outports)}`,
      );
    }
    if (!target.actor.inports.includes(inport)) {
      fail(
        where,
        "inport",
        `node "${to}" ${portFault(to, "inport", inport, target.actor.inports)}`,
      );
    }
    checkIndex(where, "fromIndex", source, outport, "outport", options.fromIndex);
    checkIndex(where, "toIndex", target, inport, "inport", options.toIndex);
    const info: EdgeInfo = { from, outport, to, inport, metadata: { ...options.metadata } };
    if (options.fromIndex !== undefined) info.fromIndex = options.fromIndex;
    if (options.toIndex !== undefined) info.toIndex = options.toIndex;
    if (options.capacity !== undefined) {
      const fault = capacityFault(options.capacity);
      if (fault) fail(where, "capacity", fault);
      info.capacity = options.capacity;
    }
    if (options.extra) info.extra = options.extra;
    this.#edges.push(info);
    return this;
  }

  /**
   * Queues an initial packet for `node`'s `port`, delivered at `start()` in the order added.
   * The message is checked against the wire schema (once).
   */
  addInitial(
    node: string,
    port: string,
    message: Message | unknown,
    options: InitialOptions = {},
  ): this {
    this.#assertNew("addInitial");
    const where = `addInitial("${node}", "${port}")`;
    const target = this.#node(node, where, "node");
    if (!target.actor.inports.includes(port)) {
      fail(
        where,
        "port",
        `node "${node}" ${portFault(node, "inport", port, target.actor.inports)}`,
      );
    }
    const indexProblem = indexFault(options.index);
    if (indexProblem) fail(where, "index", indexProblem);
    const checked = isCheckedMessage(message) ||
        (message instanceof Object && (message as Message).data instanceof Uint8Array)
      ? message as Message
      : messageFromWire(message, where);
    const info: InitialInfo = {
      node,
      port,
      message: checked,
      data: "data" in options ? options.data : plainData(checked),
      metadata: { ...options.metadata },
    };
    // On a port that is not addressable an index means nothing (Reflow's exporter writes one on
    // every IIP); it is kept for the description only.
    if (options.index !== undefined) info.index = options.index;
    if (options.extra) info.extra = options.extra;
    this.#initials.push(info);
    return this;
  }

  /**
   * Wires every connection and delivers the initial packets. A connection's `TransformStream` and
   * its pump are made when its first packet is sent, so an edge that never carries one costs none.
   */
  start(): Promise<void> {
    this.#assertNew("start");
    const engine = this.#engine;
    engine.state = "running";
    const slots = new Slots();
    for (const info of this.#edges) {
      const source = this.#nodes.get(info.from)!;
      const target = this.#nodes.get(info.to)!;
      // Its stream is opened by the first packet (Engine.connect).
      const edge: OutEdge = {
        fromId: info.from,
        fromPort: info.outport,
        to: target,
        toPort: info.inport,
        fromIndex: slots.take(source, "out", info.outport, info.fromIndex),
        toIndex: slots.take(target, "in", info.inport, info.toIndex),
        writer: undefined,
        capacity: info.capacity ?? this.#capacity,
        seqs: [],
        held: false,
      };
      source.outs.get(info.outport)!.push(edge);
      target.ins.push(edge);
    }
    engine.emit({ _type: "NetworkStarted", timestamp: Date.now() });
    engine.active += this.#initials.length;
    for (const { node, port, message, index } of this.#initials) {
      const target = this.#nodes.get(node)!;
      const slot = target.addressable?.has(port)
        ? slots.take(target, "in", port, index)
        : undefined;
      target.accept(port, message, undefined, engine.seq++, slot);
    }
    if (engine.active === 0) engine.becameIdle();
    return Promise.resolve();
  }

  /**
   * Resolves when no packet is in flight and no tick runs. Rejects with the {@link ActorError}
   * under fail-fast, with an `AbortError` when the network shuts down first or `signal` aborts,
   * and with a `TimeoutError` after `timeoutMs`.
   */
  whenIdle(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    return this.#engine.whenIdle(options, () => this.waiting());
  }

  /** Join nodes holding packets while waiting for other inports: why an idle graph did not finish. */
  waiting(): Waiting[] {
    const out: Waiting[] = [];
    for (const node of this.#nodes.values()) {
      const ports = node.missingInports();
      if (ports.length) out.push({ actorId: node.id, ports });
    }
    return out;
  }

  /**
   * Aborts every tick's signal, cancels every connection and resolves once they are closed.
   * Safe to call twice; never waits for an actor that ignores its signal.
   */
  shutdown(): Promise<void> {
    return this.#engine.shutdown();
  }

  /**
   * Subscribes to events, or only to the `types` given; returns the unsubscribe function. Events
   * nobody subscribed to are never built, so a network without tracing pays nothing per packet.
   */
  on(listener: Listener, types?: readonly NetworkEvent["_type"][]): () => void {
    return this.#engine.on(listener, types);
  }

  /**
   * The network's events as a stream; it closes after `NetworkShutdown`. Events buffer until
   * read, so cancel a stream you stop reading.
   */
  events(): ReadableStream<NetworkEvent> {
    let off = noop;
    return new ReadableStream<NetworkEvent>({
      start: (controller) => {
        off = this.on((event) => {
          controller.enqueue(event);
          if (event._type === "NetworkShutdown") {
            off();
            controller.close();
          }
        });
      },
      cancel: () => off(),
    });
  }

  /**
   * The network as a {@link Graph}: its nodes (component = the registered template), edges with
   * their indexes, initial packets as their document wrote them, and the name, properties,
   * exported ports and groups it was loaded with. `toGraphJson`, `toMermaid`, `loadGraph` and the
   * page take it.
   *
   * @example
   * ```ts
   * const graph = net.describe();
   * graph.edges.map((e) => `${e.from.node}.${e.from.port} -> ${e.to.node}.${e.to.port}`);
   * ```
   */
  describe(): Graph {
    const ref = (node: string, port: string, index?: number, extra?: Record<string, unknown>) => {
      const r: GraphPortRef = { node, port };
      if (index !== undefined) r.index = index;
      if (extra) r.extra = structuredClone(extra);
      return r;
    };
    const g = this.#graph;
    return structuredClone({
      name: g.name ?? "",
      caseSensitive: g.caseSensitive ?? false,
      properties: g.properties ?? {},
      nodes: [...this.#nodes.values()].map((n) => ({
        id: n.id,
        component: n.template,
        metadata: n.metadata,
      })),
      edges: this.#edges.map((e) => {
        const metadata = { ...e.metadata };
        if (e.capacity !== undefined) metadata.capacity = e.capacity;
        const edge = {
          from: ref(e.from, e.outport, e.fromIndex, e.extra?.from),
          to: ref(e.to, e.inport, e.toIndex, e.extra?.to),
          metadata,
        };
        return e.extra?.edge ? { ...edge, extra: e.extra.edge } : edge;
      }),
      initials: this.#initials.map((i) => {
        const initial = {
          to: ref(i.node, i.port, i.index, i.extra?.to),
          data: i.data,
          metadata: i.metadata,
        };
        return i.extra?.initial ? { ...initial, extra: i.extra.initial } : initial;
      }),
      inports: g.inports ?? {},
      outports: g.outports ?? {},
      groups: g.groups ?? [],
      extra: g.extra ?? {},
    }) as Graph;
  }

  /** The actor ports of a node (for checks against a graph), or undefined for an unknown node. */
  ports(
    id: string,
  ):
    | { inports: readonly string[]; outports: readonly string[]; addressable: readonly string[] }
    | undefined {
    const n = this.#nodes.get(id);
    if (!n) return undefined;
    return {
      inports: n.actor.inports,
      outports: n.actor.outports,
      addressable: n.actor.addressable ?? [],
    };
  }

  #node(id: string, where: string, field: WiringField): NodeRunner {
    const node = this.#nodes.get(id);
    if (node === undefined) {
      fail(
        where,
        field,
        `unknown node "${id}" (nodes: ${[...this.#nodes.keys()].join(", ") || "none"})`,
      );
    }
    return node;
  }

  #instantiate(
    id: string,
    name: string,
    template: ActorTemplate,
    config: NodeMetadata,
  ): ActorLike {
    let actor: unknown;
    if (isActorClass(template)) actor = new template();
    else if (typeof template === "function") {
      actor = (template as (config: NodeMetadata) => unknown)(config);
    } else {
      const owner = this.#instanceOwners?.get(template);
      if (owner !== undefined) {
        fail(
          `addNode("${id}")`,
          "template",
          `template "${name}" is an actor instance already used by node "${owner}"; register a ` +
            `class or a factory to run it on several nodes`,
        );
      }
      (this.#instanceOwners ??= new Map()).set(template, id);
      actor = template;
    }
    if (!isActorShape(actor)) {
      fail(
        `addNode("${id}")`,
        "template",
        `template "${name}" did not make an actor (inports, outports, run())`,
      );
    }
    return actor;
  }

  #assertNew(what: string): void {
    if (this.#engine.state !== "new") {
      throw new NetworkError(`${what}(): the network has already been started`);
    }
  }
}

/**
 * The scheduler: what nodes call on the hot path (the in-flight count, write-order stamps, tick
 * events, failure handling) and the network's life cycle. Module-private: users see `Network`.
 */
class Engine implements Scheduler {
  state: "new" | "running" | "stopped" = "new";
  /** Write-order stamp of the next packet (initial packets first). */
  seq = 0;
  active = 0;
  listening = false;
  tracing = false;
  readonly open: OpenConnection[] = [];
  readonly #controller = new AbortController();
  readonly #listeners = new Set<{ listener: Listener; types?: Set<string> }>();
  /** The event types someone listens to; undefined when a listener takes every type. */
  #wanted: Set<string> | undefined = new Set();
  #hops = 0;
  #idleWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #failure: ActorError | undefined;
  #stopping: Promise<void> | undefined;

  constructor(readonly failFast: boolean, readonly nodes: Map<string, NodeRunner>) {}

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get stopped(): boolean {
    return this.state === "stopped";
  }

  track(n: number): void {
    this.active += n;
  }

  settle(n: number): void {
    this.active -= n;
    if (this.active === 0 && this.state === "running") this.becameIdle();
  }

  tickStarted(node: NodeRunner, attempt: number): void {
    this.emit({
      _type: "ActorStarted",
      actorId: node.id,
      component: node.component,
      attempt,
      timestamp: Date.now(),
    });
  }

  tickCompleted(
    node: NodeRunner,
    outputs: Record<string, Message> | undefined,
    attempt: number,
  ): void {
    this.emit({
      _type: "ActorCompleted",
      actorId: node.id,
      component: node.component,
      attempt,
      outputs,
      timestamp: Date.now(),
    });
  }

  tickFailed(node: NodeRunner, error: unknown, attempt: number): void {
    if (this.state === "stopped") return;
    this.emit({
      _type: "ActorFailed",
      actorId: node.id,
      component: node.component,
      attempt,
      error: describe(error),
      cause: error,
      timestamp: Date.now(),
    });
    const errorEdges = node.outs.get("error");
    if (errorEdges !== undefined && errorEdges.length > 0) {
      // An error the graph routes somewhere is handled there, so it does not fail the network.
      node.emit({ error: Message.error(error) }).catch(noop);
      return;
    }
    if (this.failFast && !this.#failure) {
      this.#failure = new ActorError(node.id, error);
      for (const w of this.#idleWaiters.splice(0)) w.reject(this.#failure);
      this.#stopping ??= this.#stop(this.#failure);
    }
  }

  sent(edge: OutEdge, message: Message): void {
    this.emit({
      _type: "MessageSent",
      fromActor: edge.fromId,
      fromPort: edge.fromPort,
      toActor: edge.to.id,
      toPort: edge.toPort,
      message,
      timestamp: Date.now(),
    });
  }

  /** Opens `edge`'s connection (stream and pump) for its first packet; shutdown closes it. */
  connect(edge: OutEdge): WritableStreamDefaultWriter<Message> | undefined {
    if (this.state !== "running") return undefined;
    const stream = openConnection(edge.capacity);
    this.open.push(stream);
    edge.writer = stream.writer;
    this.pump(edge, stream.reader);
    return stream.writer;
  }

  async pump(edge: OutEdge, reader: ReadableStreamDefaultReader<Message>): Promise<void> {
    const target = edge.to;
    const port = edge.toPort;
    try {
      for (;;) {
        const result = await reader.read();
        if (result.done) return;
        const seq = edge.seqs.shift()!;
        await target.accept(port, result.value, edge, seq);
        // A pipe whose promises all resolve at once runs on microtasks alone and would starve
        // timers (tick timeouts) and I/O; yield to the macrotask queue now and then.
        if (++this.#hops >= YIELD_EVERY) {
          this.#hops = 0;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    } catch {
      // The connection was cancelled by shutdown; nothing is left to deliver.
    }
  }

  becameIdle(): void {
    this.emit({ _type: "NetworkIdle", timestamp: Date.now() });
    for (const w of this.#idleWaiters.splice(0)) w.resolve();
  }

  whenIdle(
    options: { signal?: AbortSignal; timeoutMs?: number },
    waiting: () => Waiting[],
  ): Promise<void> {
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.state === "stopped") {
      return Promise.reject(abortError("whenIdle(): the network is shut down"));
    }
    if (this.state === "running" && this.active === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const { signal, timeoutMs } = options;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waiter = {
        resolve: () => {
          cleanup();
          resolve();
        },
        reject: (e: unknown) => {
          cleanup();
          reject(e);
        },
      };
      const onAbort = () => {
        this.#idleWaiters = this.#idleWaiters.filter((w) => w !== waiter);
        waiter.reject(signal!.reason ?? abortError("whenIdle(): aborted"));
      };
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#idleWaiters = this.#idleWaiters.filter((w) => w !== waiter);
          const joins = waiting().map((w) => `"${w.actorId}" waits for ${w.ports.join(", ")}`);
          waiter.reject(
            new DOMException(
              `whenIdle(): not idle after ${timeoutMs} ms` +
                (joins.length ? ` (joins holding packets: ${joins.join("; ")})` : ""),
              "TimeoutError",
            ),
          );
        }, timeoutMs);
      }
      this.#idleWaiters.push(waiter);
    });
  }

  shutdown(): Promise<void> {
    this.#stopping ??= this.#stop(abortError("the network was shut down"));
    return this.#stopping;
  }

  on(listener: Listener, types?: readonly NetworkEvent["_type"][]): () => void {
    const entry = { listener, types: types ? new Set<string>(types) : undefined };
    this.#listeners.add(entry);
    this.#refreshListening();
    return () => {
      this.#listeners.delete(entry);
      this.#refreshListening();
    };
  }

  emit(event: NetworkEvent): void {
    if (this.#listeners.size === 0) return;
    for (const { listener, types } of this.#listeners) {
      if (types && !types.has(event._type)) continue;
      try {
        listener(event);
      } catch {
        // A listener's bug must not break the flow it observes.
      }
    }
  }

  async #stop(reason: unknown): Promise<void> {
    if (this.state === "stopped") return;
    const started = this.state === "running";
    this.state = "stopped";
    this.#controller.abort(reason);
    const why = reason instanceof ActorError
      ? reason
      : abortError("the network was shut down before it went idle");
    for (const w of this.#idleWaiters.splice(0)) w.reject(why);
    for (const node of this.nodes.values()) node.release();
    if (started) await Promise.all(this.open.map((edge) => closeConnection(edge, reason)));
    this.emit({ _type: "NetworkShutdown", timestamp: Date.now() });
    this.#listeners.clear();
    this.#refreshListening();
  }

  /** True when someone listens to events of this type (so building one is worth it). */
  listens(type: NetworkEvent["_type"]): boolean {
    return this.#wanted === undefined || this.#wanted.has(type);
  }

  report(node: NodeRunner, event: ActorEventInit): void {
    this.emit({
      ...event,
      actorId: node.id,
      component: node.component,
      timestamp: Date.now(),
    } as ActorEvent);
  }

  #refreshListening(): void {
    const entries = [...this.#listeners];
    this.#wanted = entries.some((entry) => !entry.types)
      ? undefined
      : new Set(entries.flatMap((entry) => [...entry.types!]));
    this.listening = this.listens("ActorStarted") || this.listens("ActorCompleted");
    this.tracing = this.listens("MessageSent");
  }
}

/**
 * Slot numbers on addressable ports: an explicit index is taken as given; an edge without one
 * takes the slot after the highest attached so far (NoFlo's `sockets.length`). Ports that are
 * not addressable have no slots.
 */
class Slots {
  readonly #next = new Map<string, number>();
  take(node: NodeRunner, side: "in" | "out", port: string, index: number | undefined) {
    if (!node.addressable?.has(port)) return undefined;
    const k = `${side}\n${node.id}\n${port}`;
    const next = this.#next.get(k) ?? 0;
    const slot = index ?? next;
    this.#next.set(k, Math.max(next, slot + 1));
    return slot;
  }
}

function fail(where: string, field: WiringField, detail: string): never {
  throw new NetworkError(`${where}: ${detail}`, field, detail);
}

function checkIndex(
  where: string,
  field: WiringField,
  node: NodeRunner,
  port: string,
  direction: "inport" | "outport",
  index: number | undefined,
): void {
  if (index === undefined) return;
  const fault = indexFault(index);
  if (fault) fail(where, field, fault);
  if (!node.addressable?.has(port)) {
    // Two edges differing only in index would both carry every packet: refuse rather than
    // deliver twice without a word.
    fail(
      where,
      field,
      `${direction} "${port}" of node "${node.id}" is not addressable, so index ${index} ` +
        `cannot choose a slot (addressable ports: ${node.actor.addressable?.join(", ") || "none"})`,
    );
  }
}

/**
 * The plainest JSON that `initialMessage` reads back as the same message: a bare string, number,
 * boolean, array, object or null where that is unambiguous, the wire form `{ type, data }`
 * otherwise.
 */
export function plainData(message: Message): unknown {
  const d = message.data;
  switch (message.type) {
    case "String":
    case "Boolean":
      return d;
    case "Integer":
      return Number.isSafeInteger(d) ? d : messageToWire(message);
    case "Float":
      return typeof d === "number" && !Number.isInteger(d) ? d : messageToWire(message);
    case "Flow":
      return null;
    case "Array":
      return d;
    case "Object": {
      const o = d as Record<string, unknown>;
      return "type" in o && Object.keys(o).every((k) => k === "type" || k === "data")
        ? messageToWire(message)
        : d;
    }
    default:
      return messageToWire(message);
  }
}

function isActorShape(value: unknown): value is ActorLike {
  const a = value as ActorLike;
  return typeof a === "object" && a !== null && typeof a.run === "function" &&
    Array.isArray(a.inports) && Array.isArray(a.outports) &&
    a.inports.every((p) => typeof p === "string") &&
    a.outports.every((p) => typeof p === "string") &&
    (a.addressable === undefined ||
      (Array.isArray(a.addressable) && a.addressable.every((p) => typeof p === "string")));
}

function metadataFault(metadata: NodeMetadata): string | undefined {
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    return "metadata must be an object";
  }
  for (const key of ["timeoutMs", "retryDelayMs"] as const) {
    const v = metadata[key];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 0)) {
      return `metadata.${key} must be a number ≥ 0, got ${v}`;
    }
  }
  const r = metadata.retry;
  if (r !== undefined && !(Number.isSafeInteger(r) && (r as number) >= 0)) {
    return `metadata.retry must be a whole number ≥ 0, got ${r}`;
  }
  return undefined;
}

function noop(): void {}
