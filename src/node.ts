import type { ActorContext, ActorLike, SendOptions } from "./actor.ts";
import type { ActorEvent, ActorEventInit } from "./events.ts";
import { NetworkError, TickTimeoutError } from "./errors.ts";
import { isMessage, type Message, type Packet } from "./message.ts";
import { portFault } from "./wiring.ts";

/** Node metadata the runtime itself reads; everything else is the actor's `ctx.config`. */
export interface NodeMetadata {
  /** Abort the tick's `ctx.signal` and fail the tick after this many ms. */
  timeoutMs?: number;
  /** Re-run a failed tick up to this many times, with the same inputs. */
  retry?: number;
  /** Wait this long between attempts (default 0). */
  retryDelayMs?: number;
  [key: string]: unknown;
}

/** The network as a node sees it: the in-flight count, events, failure handling. */
export interface Scheduler {
  readonly signal: AbortSignal;
  readonly stopped: boolean;
  /** True when someone listens to tick events; keeps event objects off the hot path otherwise. */
  readonly listening: boolean;
  /** True when someone listens to MessageSent. */
  readonly tracing: boolean;
  /** The next write-order stamp: fan-in delivers packets in the order they were written. */
  seq: number;
  /** Counts one more packet in flight (in a connection or waiting for its node). */
  track(n: number): void;
  /** Counts packets or ticks that finished; at zero the network is idle. */
  settle(n: number): void;
  tickStarted(node: NodeRunner, attempt: number): void;
  tickCompleted(node: NodeRunner, outputs: Packet | undefined, attempt: number): void;
  tickFailed(node: NodeRunner, error: unknown, attempt: number): void;
  /** Reports a packet entering a connection, when someone listens. */
  sent(edge: OutEdge, message: Message): void;
  /**
   * Opens the edge's connection (its stream and its pump) for its first packet; undefined once the
   * network has stopped.
   */
  connect(edge: OutEdge): WritableStreamDefaultWriter<Message> | undefined;
  /** True when someone listens to events of this type. */
  listens(type: ActorEvent["_type"]): boolean;
  /** Emits an event an actor reported about its tick. */
  report(node: NodeRunner, event: ActorEventInit): void;
}

/** The writing end of a connection, as held by the node that feeds it. */
export interface OutEdge {
  readonly fromId: string;
  readonly fromPort: string;
  readonly to: NodeRunner;
  readonly toPort: string;
  /** The slot on an addressable outport (undefined on the others). */
  readonly fromIndex: number | undefined;
  /** The slot on an addressable inport (undefined on the others). */
  readonly toIndex: number | undefined;
  /**
   * The connection's writing end, once it carried a packet: a connection's stream is made on its
   * first packet, so an edge that carries none (a finding not sent yet) costs no stream.
   */
  writer: WritableStreamDefaultWriter<Message> | undefined;
  /** Packets the connection holds before a write has to wait for its consumer. */
  readonly capacity: number;
  /** Write-order stamps of the packets written and not yet read by the connection's pump. */
  seqs: number[];
  /**
   * The pump is parked on a join that cannot fire yet: its queued packets cannot move either, so
   * they do not count as in flight (else a join that never fires would hang whenIdle()).
   */
  held: boolean;
}

interface Waiting {
  port: string;
  message: Message;
  resolve: () => void;
  /** The connection it came by; undefined for initial packets. */
  edge: OutEdge | undefined;
  /** The index it arrived on, on an addressable inport. */
  index: number | undefined;
  /** When it was written, network-wide. */
  seq: number;
  taken: boolean;
}

/**
 * Runs one actor: serialises its ticks, queues what arrives while it is busy, applies its
 * metadata (timeout, retry) and fans its output out to the connections of each outport.
 */
export class NodeRunner {
  /** Outport name to the connections it feeds; every declared outport has an entry. */
  readonly outs = new Map<string, OutEdge[]>();
  /** The connections that feed it. */
  readonly ins: OutEdge[] = [];
  /** The actor's addressable (array) ports, if it has any. */
  readonly addressable: ReadonlySet<string> | undefined;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryDelayMs: number;
  /** No timeout and no retry: ticks take the short path. */
  private readonly plain: boolean;
  private running = false;
  /** Without awaitAllInports: packets that arrived while a tick ran, in arrival order. */
  private readonly waiting: Waiting[] = [];
  /** With awaitAllInports: one FIFO per declared inport. */
  private readonly queues: Map<string, Waiting[]> | undefined;

  constructor(
    readonly id: string,
    /** The registered template this node was made from. */
    readonly template: string,
    readonly component: string,
    readonly actor: ActorLike,
    readonly metadata: NodeMetadata,
    readonly net: Scheduler,
  ) {
    for (const port of actor.outports) this.outs.set(port, []);
    if (actor.addressable?.length) this.addressable = new Set(actor.addressable);
    if (actor.awaitAllInports) {
      this.queues = new Map(actor.inports.map((p) => [p, []]));
    }
    this.timeoutMs = metadata.timeoutMs ?? 0;
    this.retries = metadata.retry ?? 0;
    this.retryDelayMs = metadata.retryDelayMs ?? 0;
    this.plain = this.timeoutMs === 0 && this.retries === 0;
  }

  /**
   * Hands a packet to the node. Resolves when the tick that consumed it ended, so that the
   * connection it came from does not read the next one before: the queue stays in the stream.
   */
  accept(
    port: string,
    message: Message,
    edge: OutEdge | undefined,
    seq: number,
    index = edge?.toIndex,
  ): Promise<void> {
    if (this.queues) {
      return new Promise((resolve) => {
        const w: Waiting = { port, message, resolve, edge, index, seq, taken: false };
        this.queues!.get(port)!.push(w);
        // Fire first (next() tracks the tick it starts), then settle: settling first would let
        // the count touch zero, and whenIdle() resolve, just before the tick this packet completes.
        this.next();
        if (!w.taken && edge) {
          edge.held = true;
          this.net.settle(edge.seqs.length);
        }
        // Held in the port queue, the packet no longer keeps the network busy: a join that can
        // never fire must not keep whenIdle() from resolving.
        this.net.settle(1);
      });
    }
    if (!this.running && this.waiting.length === 0 && !this.behind(seq)) {
      return this.runTick(
        { [port]: message },
        undefined,
        index === undefined ? undefined : { [port]: index },
      );
    }
    return new Promise((resolve) => {
      // Kept in write order; packets mostly arrive in it, so this rarely moves anything.
      const waiting = this.waiting;
      let at = waiting.length;
      while (at > 0 && waiting[at - 1].seq > seq) at--;
      waiting.splice(at, 0, { port, message, resolve, edge, index, seq, taken: false });
      this.next();
    });
  }

  /**
   * Whether a packet written before `seq` still waits in another connection into this node. Its
   * pump is free (a pump parked here holds an even older packet), so it is on its way: taking
   * packets in write order keeps cause before effect on fan-in, e.g. a specialist's last token
   * before the synthesizer's first at the logger, however slowly the logger goes.
   */
  private behind(seq: number): boolean {
    for (let i = 0; i < this.ins.length; i++) {
      const seqs = this.ins[i].seqs;
      if (seqs.length > 0 && seqs[0] < seq) return true;
    }
    return false;
  }

  /** Inports whose queue is empty while another holds packets (a join waiting for input). */
  missingInports(): string[] {
    if (!this.queues) return [];
    let held = false;
    const missing: string[] = [];
    for (const [port, queue] of this.queues) {
      if (queue.length === 0) missing.push(port);
      else held = true;
    }
    return held ? missing : [];
  }

  /** Lets every waiting delivery go, after shutdown, so that no connection pump stays parked. */
  release(): void {
    for (const w of this.waiting.splice(0)) w.resolve();
    if (this.queues) {
      for (const q of this.queues.values()) for (const w of q.splice(0)) w.resolve();
    }
  }

  private next(): void {
    if (this.running || this.net.stopped) return;
    if (this.queues) {
      for (const queue of this.queues.values()) if (queue.length === 0) return;
      const inputs: Packet = {};
      let indexes: Record<string, number> | undefined;
      const taken: Waiting[] = [];
      this.net.track(1);
      for (const [port, queue] of this.queues) {
        const w = queue.shift()!;
        w.taken = true;
        inputs[port] = w.message;
        if (w.index !== undefined) (indexes ??= {})[port] = w.index;
        taken.push(w);
        if (w.edge?.held) {
          w.edge.held = false;
          this.net.track(w.edge.seqs.length);
        }
      }
      this.runTick(inputs, taken, indexes);
      return;
    }
    const w = this.waiting[0];
    if (w === undefined || this.behind(w.seq)) return; // that pump's accept() calls next() again
    this.waiting.shift();
    this.runTick(
      { [w.port]: w.message },
      w,
      w.index === undefined ? undefined : { [w.port]: w.index },
    );
  }

  private async runTick(
    inputs: Packet,
    consumed: Waiting | Waiting[] | undefined,
    indexes: Record<string, number> | undefined,
  ): Promise<void> {
    this.running = true;
    if (!this.plain) await this.tick(inputs, indexes);
    else if (!this.net.stopped) {
      // The hot path, flattened: one async frame per tick when there is no timeout or retry.
      const ctx = new TickContext(this, inputs, 1, indexes);
      if (this.net.listening) this.net.tickStarted(this, 1);
      try {
        const result = this.actor.run(ctx) as Promise<void> | undefined;
        if (result !== ACCEPTED && typeof result?.then === "function") await result;
        if (ctx.pendingDone !== undefined) await ctx.pendingDone;
        ctx.close();
        if (this.net.listening) this.net.tickCompleted(this, ctx.outputs, 1);
      } catch (error) {
        ctx.close();
        this.net.tickFailed(this, error, 1);
      }
    }
    this.running = false;
    if (consumed) {
      if (Array.isArray(consumed)) { for (const w of consumed) w.resolve(); }
      else consumed.resolve();
    }
    // Start the next tick first (a join's is tracked only when it starts), then settle this one,
    // so that the in-flight count never touches zero while a tick is ready to run.
    this.next();
    this.net.settle(1);
  }

  private async tick(inputs: Packet, indexes: Record<string, number> | undefined): Promise<void> {
    for (let attempt = 1;; attempt++) {
      if (this.net.stopped) return;
      const ctx = new TickContext(this, inputs, attempt, indexes);
      if (this.net.listening) this.net.tickStarted(this, attempt);
      try {
        await (this.timeoutMs > 0 ? this.invokeWithTimeout(ctx) : this.invoke(ctx));
        ctx.close();
        if (this.net.listening) this.net.tickCompleted(this, ctx.outputs, attempt);
        return;
      } catch (error) {
        ctx.close();
        if (attempt <= this.retries && !this.net.stopped) {
          if (this.retryDelayMs > 0) await delay(this.retryDelayMs, this.net.signal);
          continue;
        }
        this.net.tickFailed(this, error, attempt);
        return;
      }
    }
  }

  private async invoke(ctx: TickContext): Promise<void> {
    await this.actor.run(ctx);
    if (ctx.pendingDone) await ctx.pendingDone;
  }

  private invokeWithTimeout(ctx: TickContext): Promise<void> {
    const controller = new AbortController();
    const outer = this.net.signal;
    const onAbort = () => controller.abort(outer.reason);
    outer.addEventListener("abort", onAbort, { once: true });
    ctx.signal = controller.signal;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const error = new TickTimeoutError(this.id, this.timeoutMs);
        controller.abort(error);
        reject(error);
      }, this.timeoutMs);
      this.invoke(ctx).then(resolve, reject).finally(() => {
        clearTimeout(timer);
        outer.removeEventListener("abort", onAbort);
      });
    });
  }

  /**
   * Writes a packet to every connection of its ports (on an addressable port, to the connections
   * at `index`); validates the whole packet first.
   */
  emit(packet: Packet, index?: number): Promise<void> {
    for (const port in packet) {
      if (!this.outs.has(port)) {
        return Promise.reject(
          new NetworkError(
            `node "${this.id}" ${portFault(this.id, "outport", port, this.actor.outports)}`,
          ),
        );
      }
      if (this.addressable !== undefined || index !== undefined) {
        const fault = this.indexFault(port, index);
        if (fault) return Promise.reject(new NetworkError(fault, "index"));
      }
      if (!isMessage(packet[port])) {
        return Promise.reject(
          new TypeError(
            `node "${this.id}" sent an invalid message on "${port}": expected { type, data } ` +
              `with a Reflow type, got ${typeof packet[port]}`,
          ),
        );
      }
    }
    let single: Promise<void> | undefined;
    let all: Promise<void>[] | undefined;
    for (const port in packet) {
      const edges = this.outs.get(port)!;
      const message = packet[port];
      const seq = this.net.seq++;
      let copies = 0;
      for (let i = 0; i < edges.length; i++) {
        const edge = edges[i];
        if (index !== undefined && edge.fromIndex !== index) continue;
        // Each copy after the first is cloned so that no consumer sees another's mutations.
        const copy = copies++ === 0 ? message : cloneMessage(message);
        edge.seqs.push(seq);
        if (!edge.held) this.net.track(1);
        if (this.net.tracing) this.net.sent(edge, copy);
        const writer = edge.writer ?? this.net.connect(edge);
        const written = writer ? writer.write(copy) : Promise.reject(this.net.signal.reason);
        if (edge.seqs.length <= edge.capacity) {
          // The connection has room: it takes the packet without waiting for its consumer, so
          // nothing needs to await this write (that would cost the tick several microtask
          // turns); only a teardown can still reject it.
          written.catch(noop);
          continue;
        }
        if (single === undefined) single = written;
        else (all ??= [single]).push(written);
      }
    }
    if (all) return Promise.all(all).then(noop);
    return single ?? ACCEPTED;
  }

  /** What is wrong with sending on `port` at `index`, if anything (one wording, here). */
  private indexFault(port: string, index: number | undefined): string | undefined {
    const addressable = this.addressable?.has(port) ?? false;
    if (index === undefined) {
      if (!addressable) return undefined;
      return `node "${this.id}": outport "${port}" is addressable: send to one index, ` +
        `e.g. ctx.send({ ${port}: message }, { index: 0 }) (attached: ${
          this.attached(port).join(", ") || "none"
        })`;
    }
    if (!addressable) {
      return `node "${this.id}": outport "${port}" is not addressable, so a send cannot name ` +
        `index ${index}`;
    }
    if (!Number.isSafeInteger(index) || index < 0) {
      return `node "${this.id}": index must be a whole number ≥ 0, got ${index}`;
    }
    return undefined;
  }

  /** The indexes connected to an addressable port, ascending. */
  attached(port: string): number[] {
    const found = new Set<number>();
    for (const e of this.outs.get(port) ?? []) {
      if (e.fromIndex !== undefined) found.add(e.fromIndex);
    }
    for (const e of this.ins) {
      if (e.toPort === port && e.toIndex !== undefined) found.add(e.toIndex);
    }
    return [...found].sort((a, b) => a - b);
  }
}

class TickContext implements ActorContext {
  outputs: Packet | undefined;
  pendingDone: Promise<void> | undefined;
  signal: AbortSignal;
  private finished = false;
  private doneCalled = false;

  readonly indexes: Readonly<Record<string, number>>;

  constructor(
    private readonly node: NodeRunner,
    readonly inputs: Readonly<Record<string, Message>>,
    readonly attempt: number,
    indexes: Record<string, number> | undefined,
  ) {
    this.signal = node.net.signal;
    this.indexes = indexes ?? NO_INDEXES;
  }

  attached(port: string): number[] {
    return this.node.attached(port);
  }

  get nodeId(): string {
    return this.node.id;
  }

  get config(): Readonly<Record<string, unknown>> {
    return this.node.metadata;
  }

  listens(type: ActorEvent["_type"]): boolean {
    return this.node.net.listens(type);
  }

  report(event: ActorEventInit): void {
    if (!this.finished && this.node.net.listens(event._type)) {
      this.node.net.report(this.node, event);
    }
  }

  send(packet: Packet, options?: SendOptions): Promise<void> {
    if (this.finished) {
      return Promise.reject(
        new NetworkError(`node "${this.node.id}": send() after its tick ended`),
      );
    }
    return this.node.emit(packet, options?.index);
  }

  done(outputs?: Packet, options?: SendOptions): void {
    if (this.doneCalled) {
      throw new NetworkError(`node "${this.node.id}": done() called twice in one tick`);
    }
    if (this.finished) {
      throw new NetworkError(`node "${this.node.id}": done() after its tick ended`);
    }
    this.doneCalled = true;
    if (outputs) {
      this.outputs = outputs;
      const written = this.node.emit(outputs, options?.index);
      if (written === ACCEPTED) return;
      this.pendingDone = written;
      // Awaited after run returns; this keeps a rejection while run is still busy from being
      // reported as unhandled.
      this.pendingDone.catch(noop);
    }
  }

  close(): void {
    this.finished = true;
  }
}

function cloneMessage(message: Message): Message {
  const data = message.data;
  return typeof data === "object" && data !== null
    ? { type: message.type, data: structuredClone(data) } as Message
    : message;
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

function noop(): void {}

const NO_INDEXES: Readonly<Record<string, number>> = Object.freeze({});

/** What `emit` returns when every connection took its packet at once: nothing to wait for. */
const ACCEPTED: Promise<void> = Promise.resolve();
