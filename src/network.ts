import { type ActorLike, type ActorTemplate, isActorClass } from "./actor.ts";
import {
  closeConnection,
  DEFAULT_CAPACITY,
  type OpenConnection,
  openConnection,
} from "./connection.ts";
import { abortError, ActorError, describe, NetworkError } from "./errors.ts";
import type { ActorEvent, ActorEventInit, NetworkEvent } from "./events.ts";
import { Message, messageFromWire } from "./message.ts";
import { type NodeMetadata, NodeRunner, type OutEdge, type Scheduler } from "./node.ts";

/** How a network treats a failing tick. */
export interface NetworkOptions {
  /**
   * `true`: the first failure aborts every tick, shuts the network down and rejects `whenIdle()`
   * with an {@link ActorError}. `false` (default): the failure is reported (`ActorFailed`, and the
   * `error` outport if the actor declares one) and the rest of the graph goes on.
   */
  failFast?: boolean;
  /** Capacity of connections that do not set their own (default 64 packets). */
  capacity?: number;
}

/** Per-connection settings. */
export interface ConnectionOptions {
  /** Packets the connection holds before `send` waits (default: the network's, 64). */
  capacity?: number;
  metadata?: Record<string, unknown>;
}

/** A node as the network describes it (for graph export and diagrams). */
export interface NodeInfo {
  id: string;
  template: string;
  component: string;
  inports: readonly string[];
  outports: readonly string[];
  metadata: NodeMetadata;
}

/** A connection as the network describes it. */
export interface ConnectionInfo {
  from: string;
  outport: string;
  to: string;
  inport: string;
  capacity?: number;
  metadata?: Record<string, unknown>;
}

/** An initial packet as the network describes it. */
export interface InitialInfo {
  node: string;
  port: string;
  message: Message;
}

/** A join (`awaitAllInports`) node holding packets while some inports are still empty. */
export interface Waiting {
  actorId: string;
  ports: string[];
}

type Listener = (event: NetworkEvent) => void;

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
export class Network implements Scheduler {
  private readonly templates = new Map<string, ActorTemplate>();
  /** Instances registered as templates, and the node that took each. */
  private instanceOwners: Map<ActorLike, string> | undefined;
  private readonly nodes = new Map<string, NodeRunner>();
  private readonly edges: ConnectionInfo[] = [];
  private readonly initials: InitialInfo[] = [];
  private readonly open: OpenConnection[] = [];
  private readonly listeners = new Set<{ listener: Listener; types?: Set<string> }>();
  private readonly controller = new AbortController();
  private readonly failFast: boolean;
  private readonly capacity: number;
  private state: "new" | "running" | "stopped" = "new";
  /** Write-order stamp of the next packet (initial packets first). */
  seq = 0;
  private active = 0;
  private hops = 0;
  private idleWaiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private failure: ActorError | undefined;
  private stopping: Promise<void> | undefined;
  /** Someone listens to tick events (ActorStarted, ActorCompleted). */
  listening = false;
  /** Someone listens to MessageSent, built once per packet and connection. */
  tracing = false;
  /** The event types someone listens to; undefined when a listener takes every type. */
  private wanted: Set<string> | undefined = new Set();

  constructor(options: NetworkOptions = {}) {
    this.failFast = options.failFast ?? false;
    this.capacity = checkCapacity(options.capacity ?? DEFAULT_CAPACITY, "network capacity");
  }

  /** Aborts when the network shuts down or fails fast. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopped(): boolean {
    return this.state === "stopped";
  }

  /**
   * Registers an actor template under a name: a class or a factory makes a fresh actor for each
   * node; an instance may back one node only.
   */
  registerActor(name: string, template: ActorTemplate): this {
    this.assertNew("registerActor");
    if (typeof name !== "string" || name === "") {
      throw new NetworkError(`registerActor: the template name must be a non-empty string`);
    }
    if (typeof template !== "function" && !isActorShape(template)) {
      throw new NetworkError(
        `registerActor("${name}"): expected an actor class, a factory or an instance with ` +
          `inports, outports and run()`,
      );
    }
    this.templates.set(name, template);
    return this;
  }

  /** Template names registered so far. */
  registeredActors(): string[] {
    return [...this.templates.keys()];
  }

  /** Adds a node running a fresh actor of `template`; `metadata` becomes its `ctx.config`. */
  addNode(id: string, template: string, metadata: NodeMetadata = {}): this {
    this.assertNew("addNode");
    if (typeof id !== "string" || id === "") {
      throw new NetworkError(`addNode: the node id must be a non-empty string`);
    }
    if (this.nodes.has(id)) {
      throw new NetworkError(`addNode("${id}"): a node "${id}" exists already`);
    }
    const tpl = this.templates.get(template);
    if (tpl === undefined) {
      throw new NetworkError(
        `addNode("${id}"): no actor registered as "${template}" (registered: ${
          this.registeredActors().join(", ") || "none"
        })`,
      );
    }
    checkMetadata(id, metadata);
    const actor = this.instantiate(id, template, tpl);
    const component = actor.component ?? template;
    this.nodes.set(id, new NodeRunner(id, template, component, actor, { ...metadata }, this));
    return this;
  }

  /** Connects `from`'s outport to `to`'s inport through a bounded stream. */
  addConnection(
    from: string,
    outport: string,
    to: string,
    inport: string,
    options: ConnectionOptions = {},
  ): this {
    this.assertNew("addConnection");
    const where = `addConnection("${from}", "${outport}", "${to}", "${inport}")`;
    const source = this.node(from, where);
    const target = this.node(to, where);
    if (!source.outs.has(outport)) {
      throw new NetworkError(
        `${where}: node "${from}" has no outport "${outport}" (outports: ${
          source.actor.outports.join(", ") || "none"
        })`,
      );
    }
    if (!target.actor.inports.includes(inport)) {
      throw new NetworkError(
        `${where}: node "${to}" has no inport "${inport}" (inports: ${
          target.actor.inports.join(", ") || "none"
        })`,
      );
    }
    const info: ConnectionInfo = { from, outport, to, inport };
    if (options.capacity !== undefined) info.capacity = checkCapacity(options.capacity, where);
    if (options.metadata !== undefined) info.metadata = options.metadata;
    this.edges.push(info);
    return this;
  }

  /**
   * Queues an initial packet for `node`'s `port`, delivered at `start()` in the order added.
   * The message is checked against the wire schema.
   */
  addInitial(node: string, port: string, message: Message | unknown): this {
    this.assertNew("addInitial");
    const where = `addInitial("${node}", "${port}")`;
    const target = this.node(node, where);
    if (!target.actor.inports.includes(port)) {
      throw new NetworkError(
        `${where}: node "${node}" has no inport "${port}" (inports: ${
          target.actor.inports.join(", ") || "none"
        })`,
      );
    }
    const checked = message instanceof Object && (message as Message).data instanceof Uint8Array
      ? message as Message
      : messageFromWire(message, where);
    this.initials.push({ node, port, message: checked });
    return this;
  }

  /** Opens every connection, starts their pumps and delivers the initial packets. */
  start(): Promise<void> {
    this.assertNew("start");
    this.state = "running";
    const pumps: { edge: OutEdge; reader: ReadableStreamDefaultReader<Message> }[] = [];
    for (const info of this.edges) {
      const stream = openConnection(info.capacity ?? this.capacity);
      this.open.push(stream);
      const edge: OutEdge = {
        fromId: info.from,
        fromPort: info.outport,
        to: this.nodes.get(info.to)!,
        toPort: info.inport,
        writer: stream.writer,
        capacity: info.capacity ?? this.capacity,
        seqs: [],
        held: false,
      };
      this.nodes.get(info.from)!.outs.get(info.outport)!.push(edge);
      edge.to.ins.push(edge);
      pumps.push({ edge, reader: stream.reader });
    }
    for (const { edge, reader } of pumps) this.pump(edge, reader);
    this.emit({ _type: "NetworkStarted", timestamp: Date.now() });
    this.active += this.initials.length;
    for (const { node, port, message } of this.initials) {
      this.nodes.get(node)!.accept(port, message, undefined, this.seq++);
    }
    if (this.active === 0) this.becameIdle();
    return Promise.resolve();
  }

  /**
   * Resolves when no packet is in flight and no tick runs. Rejects with the {@link ActorError}
   * under fail-fast, with an `AbortError` when the network shuts down first or `signal` aborts,
   * and with a `TimeoutError` after `timeoutMs`.
   */
  whenIdle(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
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
        this.idleWaiters = this.idleWaiters.filter((w) => w !== waiter);
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
          this.idleWaiters = this.idleWaiters.filter((w) => w !== waiter);
          const joins = this.waiting().map((w) => `"${w.actorId}" waits for ${w.ports.join(", ")}`);
          waiter.reject(
            new DOMException(
              `whenIdle(): not idle after ${timeoutMs} ms` +
                (joins.length ? ` (joins holding packets: ${joins.join("; ")})` : ""),
              "TimeoutError",
            ),
          );
        }, timeoutMs);
      }
      this.idleWaiters.push(waiter);
    });
  }

  /** Join nodes holding packets while waiting for other inports: why an idle graph did not finish. */
  waiting(): Waiting[] {
    const out: Waiting[] = [];
    for (const node of this.nodes.values()) {
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
    this.stopping ??= this.stop(abortError("the network was shut down"));
    return this.stopping;
  }

  /**
   * Subscribes to events, or only to the `types` given; returns the unsubscribe function. Events
   * nobody subscribed to are never built, so a network without tracing pays nothing per packet.
   */
  on(listener: Listener, types?: readonly NetworkEvent["_type"][]): () => void {
    const entry = { listener, types: types ? new Set(types) : undefined };
    this.listeners.add(entry);
    this.refreshListening();
    return () => {
      this.listeners.delete(entry);
      this.refreshListening();
    };
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

  /** The nodes, for export. */
  describeNodes(): NodeInfo[] {
    return [...this.nodes.values()].map((n) => ({
      id: n.id,
      template: n.template,
      component: n.component,
      inports: n.actor.inports,
      outports: n.actor.outports,
      metadata: n.metadata,
    }));
  }

  /** The connections, for export. */
  describeConnections(): ConnectionInfo[] {
    return this.edges.map((e) => ({ ...e }));
  }

  /** The initial packets, for export. */
  describeInitials(): InitialInfo[] {
    return this.initials.map((i) => ({ ...i }));
  }

  // Scheduler: called by nodes on the hot path.

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
    if (this.failFast && !this.failure) {
      this.failure = new ActorError(node.id, error);
      for (const w of this.idleWaiters.splice(0)) w.reject(this.failure);
      this.stopping ??= this.stop(this.failure);
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

  private async pump(edge: OutEdge, reader: ReadableStreamDefaultReader<Message>): Promise<void> {
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
        if (++this.hops >= YIELD_EVERY) {
          this.hops = 0;
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    } catch {
      // The connection was cancelled by shutdown; nothing is left to deliver.
    }
  }

  private becameIdle(): void {
    this.emit({ _type: "NetworkIdle", timestamp: Date.now() });
    for (const w of this.idleWaiters.splice(0)) w.resolve();
  }

  private async stop(reason: unknown): Promise<void> {
    if (this.state === "stopped") return;
    const started = this.state === "running";
    this.state = "stopped";
    this.controller.abort(reason);
    const why = reason instanceof ActorError
      ? reason
      : abortError("the network was shut down before it went idle");
    for (const w of this.idleWaiters.splice(0)) w.reject(why);
    for (const node of this.nodes.values()) node.release();
    if (started) await Promise.all(this.open.map((edge) => closeConnection(edge, reason)));
    this.emit({ _type: "NetworkShutdown", timestamp: Date.now() });
    this.listeners.clear();
    this.refreshListening();
  }

  /** True when someone listens to events of this type (so building one is worth it). */
  listens(type: NetworkEvent["_type"]): boolean {
    return this.wanted === undefined || this.wanted.has(type);
  }

  report(node: NodeRunner, event: ActorEventInit): void {
    this.emit({
      ...event,
      actorId: node.id,
      component: node.component,
      timestamp: Date.now(),
    } as ActorEvent);
  }

  private refreshListening(): void {
    const entries = [...this.listeners];
    this.wanted = entries.some((entry) => !entry.types)
      ? undefined
      : new Set(entries.flatMap((entry) => [...entry.types!]));
    this.listening = this.listens("ActorStarted") || this.listens("ActorCompleted");
    this.tracing = this.listens("MessageSent");
  }

  private emit(event: NetworkEvent): void {
    if (this.listeners.size === 0) return;
    for (const { listener, types } of this.listeners) {
      if (types && !types.has(event._type)) continue;
      try {
        listener(event);
      } catch {
        // A listener's bug must not break the flow it observes.
      }
    }
  }

  private node(id: string, where: string): NodeRunner {
    const node = this.nodes.get(id);
    if (node === undefined) {
      throw new NetworkError(
        `${where}: unknown node "${id}" (nodes: ${[...this.nodes.keys()].join(", ") || "none"})`,
      );
    }
    return node;
  }

  private instantiate(id: string, name: string, template: ActorTemplate): ActorLike {
    let actor: unknown;
    if (isActorClass(template)) actor = new template();
    else if (typeof template === "function") actor = (template as () => unknown)();
    else {
      const owner = this.instanceOwners?.get(template);
      if (owner !== undefined) {
        throw new NetworkError(
          `addNode("${id}"): template "${name}" is an actor instance already used by node ` +
            `"${owner}"; register a class or a factory to run it on several nodes`,
        );
      }
      (this.instanceOwners ??= new Map()).set(template, id);
      actor = template;
    }
    if (!isActorShape(actor)) {
      throw new NetworkError(
        `addNode("${id}"): template "${name}" did not make an actor (inports, outports, run())`,
      );
    }
    return actor;
  }

  private assertNew(what: string): void {
    if (this.state !== "new") {
      throw new NetworkError(`${what}(): the network has already been started`);
    }
  }
}

function isActorShape(value: unknown): value is ActorLike {
  const a = value as ActorLike;
  return typeof a === "object" && a !== null && typeof a.run === "function" &&
    Array.isArray(a.inports) && Array.isArray(a.outports) &&
    a.inports.every((p) => typeof p === "string") && a.outports.every((p) => typeof p === "string");
}

function checkCapacity(capacity: number, where: string): number {
  if (!Number.isSafeInteger(capacity) || capacity < 1) {
    throw new NetworkError(`${where}: capacity must be a whole number ≥ 1, got ${capacity}`);
  }
  return capacity;
}

function checkMetadata(id: string, metadata: NodeMetadata): void {
  if (typeof metadata !== "object" || metadata === null) {
    throw new NetworkError(`addNode("${id}"): metadata must be an object`);
  }
  for (const key of ["timeoutMs", "retryDelayMs"] as const) {
    const v = metadata[key];
    if (v !== undefined && !(typeof v === "number" && Number.isFinite(v) && v >= 0)) {
      throw new NetworkError(`addNode("${id}"): metadata.${key} must be a number ≥ 0, got ${v}`);
    }
  }
  const r = metadata.retry;
  if (r !== undefined && !(Number.isSafeInteger(r) && r >= 0)) {
    throw new NetworkError(`addNode("${id}"): metadata.retry must be a whole number ≥ 0, got ${r}`);
  }
}

function noop(): void {}
