/**
 * OpenTelemetry spans from a network's events, following the GenAI semantic conventions: one
 * `invoke_workflow` span per run, one `invoke_agent` span per tick (its child), one `chat` span per
 * model call (the tick's child). Parents are set explicitly from the events (no context manager,
 * no AsyncLocalStorage), so the same code traces on Node, Deno and Workers.
 *
 * @module
 */
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from "@opentelemetry/api";
import type { NetworkEvent } from "../events.ts";

/** How {@link traceNetwork} names and fills its spans. */
export interface TraceOptions {
  /** Where spans go (default: `trace.getTracer("reflow-edge")` of the registered provider). */
  tracer?: Tracer;
  /** `gen_ai.workflow.name`, and the run span's name `invoke_workflow {name}` (default "reflow"). */
  workflowName?: string;
  /** The run span's parent (default: the context active when the network starts). */
  parent?: Context;
  /** More attributes for the run span (a run id, a user id…). */
  attributes?: Attributes;
  /**
   * Which nodes get a span per tick (default: all). A node that ticks once per token, such as
   * the research flow's logger, adds one short span per token; leave it out here if that is noise.
   */
  nodes?: (actorId: string, component: string) => boolean;
}

/** The events a trace is built from. */
const TRACED: NetworkEvent["_type"][] = [
  "NetworkStarted",
  "ActorStarted",
  "ActorCompleted",
  "ActorFailed",
  "NetworkIdle",
  "NetworkShutdown",
];

/** The instrumentation scope reported with every span. */
export const TRACER_NAME = "reflow-edge";

interface Tick {
  span: Span;
  attempt: number;
}

/**
 * Traces `net` from its next `start()`: returns a function that stops listening (spans already
 * open are left as they are). When no tracer provider is registered (or the run is not sampled),
 * it stops listening at `NetworkStarted`, so the network builds no tick events for it.
 *
 * @example
 * ```ts
 * import { traceNetwork } from "reflow-edge/otel";
 * traceNetwork(net, { workflowName: "research" });
 * await net.start();
 * await net.whenIdle();
 * await net.shutdown(); // ends the run span
 * ```
 */
export function traceNetwork(
  net: { on(listener: (event: NetworkEvent) => void, types?: NetworkEvent["_type"][]): () => void },
  options: TraceOptions = {},
): () => void {
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME);
  const name = options.workflowName ?? "reflow";
  const wants = options.nodes;
  let run: Span | undefined;
  let runContext: Context | undefined;
  const ticks = new Map<string, Tick>();
  let idle = false;
  let failure: { message: string; type: string } | undefined;

  const startTick = (actorId: string, component: string, attempt: number) => {
    const previous = ticks.get(actorId);
    if (previous) {
      // A node runs one tick at a time: a new start while one is open is `retry` re-running it.
      fail(previous.span, `attempt ${previous.attempt} failed and was retried`, "retried");
    }
    if (wants && !wants(actorId, component)) return;
    const span = tracer.startSpan(`invoke_agent ${component}`, {
      kind: SpanKind.INTERNAL,
      attributes: {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": component,
        "gen_ai.agent.id": actorId,
        "reflow.node.id": actorId,
        "reflow.component": component,
        "reflow.attempt": attempt,
      },
    }, runContext);
    ticks.set(actorId, { span, attempt });
  };

  const listener = (event: NetworkEvent) => {
    switch (event._type) {
      case "NetworkStarted": {
        const parent = options.parent ?? context.active();
        run = tracer.startSpan(`invoke_workflow ${name}`, {
          kind: SpanKind.INTERNAL,
          attributes: {
            "gen_ai.operation.name": "invoke_workflow",
            "gen_ai.workflow.name": name,
            ...options.attributes,
          },
        }, parent);
        if (!run.isRecording()) {
          // Nobody records: stop listening, so the network stops building tick events for us.
          run.end();
          off();
          return;
        }
        runContext = trace.setSpan(parent, run);
        return;
      }
      case "ActorStarted":
        idle = false;
        startTick(event.actorId, event.component, event.attempt);
        return;
      case "ActorCompleted": {
        const tick = ticks.get(event.actorId);
        if (!tick) return;
        ticks.delete(event.actorId);
        tick.span.end();
        return;
      }
      case "ActorFailed": {
        const type = errorType(event.cause);
        failure ??= { message: `node "${event.actorId}" failed: ${event.error}`, type };
        const tick = ticks.get(event.actorId);
        if (!tick) return;
        ticks.delete(event.actorId);
        fail(tick.span, event.error, type, event.cause);
        return;
      }
      case "NetworkIdle":
        idle = true;
        return;
      case "NetworkShutdown": {
        for (const tick of ticks.values()) {
          fail(tick.span, "aborted: the network shut down while the tick ran", "aborted");
        }
        ticks.clear();
        if (run && !idle) {
          fail(
            run,
            failure?.message ?? "aborted: the network shut down before it went idle",
            failure?.type ?? "aborted",
          );
        } else run?.end();
        run = undefined;
        off();
        return;
      }
    }
  };
  const off = net.on(listener, TRACED);
  return off;
}

/** Ends `span` as failed: status ERROR with the message, `error.type`, and an exception event. */
function fail(span: Span, message: string, type: string, cause?: unknown): void {
  span.setAttribute("error.type", type);
  if (cause instanceof Error) {
    // The message given is the one the network reported; never the raw stack of a foreign error.
    span.recordException({ name: cause.name, message });
  }
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end();
}

/**
 * A low-cardinality `error.type`: an `LlmError`'s code (`unauthorized`, `timeout`…), else the
 * error's name (`TimeoutError`, `TypeError`…), else `_OTHER` as the conventions ask.
 */
export function errorType(error: unknown): string {
  const seen = new Set<unknown>();
  for (let e = error; e && typeof e === "object" && !seen.has(e); e = (e as Error).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code) return code;
  }
  if (error instanceof Error && error.name) return error.name;
  return "_OTHER";
}
