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
import type {
  ModelCallFailed,
  ModelCallFinished,
  ModelCallStarted,
  NetworkEvent,
} from "../events.ts";
import { addUsage, type TokenUsage } from "../llm/deltas.ts";

/** How {@link traceNetwork} names and fills its spans. */
export interface TraceOptions {
  /** Where spans go (default: `trace.getTracer("reflow-edge")` of the registered provider). */
  tracer?: Tracer;
  /**
   * `gen_ai.workflow.name`, and the run span's name `invoke_workflow {name}` (default: the graph's
   * name, `Network.describe().name`, else "reflow").
   */
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
  /**
   * Record the prompt and the completion on model-call spans (`gen_ai.system_instructions`,
   * `gen_ai.input.messages`, `gen_ai.output.messages`). Off by default: they may hold personal data.
   */
  recordContent?: boolean;
  /**
   * Called once the run span has ended (at `NetworkShutdown`): where a Worker flushes its spans,
   * e.g. `onEnd: () => ctx.waitUntil(provider.forceFlush())`.
   */
  onEnd?: () => void;
}

/** The events a trace is built from. */
const TRACED: NetworkEvent["_type"][] = [
  "NetworkStarted",
  "ActorStarted",
  "ActorCompleted",
  "ActorFailed",
  "NetworkIdle",
  "NetworkShutdown",
  "ModelCallStarted",
  "ModelCallFinished",
  "ModelCallFailed",
];

/** The instrumentation scope reported with every span. */
export const TRACER_NAME = "reflow-edge";

interface Tick {
  span: Span;
  attempt: number;
  /** What this tick's model calls used, for the agent span's `gen_ai.usage.*`. */
  usage?: TokenUsage;
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
  net: {
    on(listener: (event: NetworkEvent) => void, types?: NetworkEvent["_type"][]): () => void;
    /** The graph (`Network.describe()`): its name names the workflow when no option does. */
    describe?(): { name?: string };
  },
  options: TraceOptions = {},
): () => void {
  const tracer = options.tracer ?? trace.getTracer(TRACER_NAME);
  let name = options.workflowName ?? "reflow";
  const wants = options.nodes;
  let run: Span | undefined;
  let runContext: Context | undefined;
  const ticks = new Map<string, Tick>();
  const calls = new Map<string, { span: Span; actorId: string }>();
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
        if (options.workflowName === undefined) {
          // Only now that someone records is the graph worth describing (a copy of the model).
          const graphName = net.describe?.().name;
          if (graphName) {
            name = graphName;
            run.updateName(`invoke_workflow ${name}`);
            run.setAttribute("gen_ai.workflow.name", name);
          }
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
        if (tick.usage) tick.span.setAttributes(usageAttributes(tick.usage));
        tick.span.end();
        return;
      }
      case "ModelCallStarted": {
        const parent = ticks.get(event.actorId)?.span;
        const span = tracer.startSpan(`chat ${event.model}`, {
          kind: SpanKind.CLIENT,
          attributes: callAttributes(event, options.recordContent === true),
        }, parent ? trace.setSpan(runContext!, parent) : runContext);
        calls.set(event.callId, { span, actorId: event.actorId });
        return;
      }
      case "ModelCallFinished": {
        const call = calls.get(event.callId);
        if (!call) return;
        calls.delete(event.callId);
        call.span.setAttributes(resultAttributes(event, options.recordContent === true));
        const tick = ticks.get(event.actorId);
        if (tick && event.usage) tick.usage = addUsage(tick.usage, event.usage);
        call.span.end();
        return;
      }
      case "ModelCallFailed": {
        const call = calls.get(event.callId);
        if (!call) return;
        calls.delete(event.callId);
        call.span.setAttributes(resultAttributes(event, false));
        if (event.retryInMs !== undefined) {
          call.span.setAttribute("reflow.retry_in_ms", event.retryInMs);
        }
        if (event.status !== undefined) {
          call.span.setAttribute("http.response.status_code", event.status);
        }
        fail(call.span, event.message, event.code);
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
        for (const call of calls.values()) {
          fail(call.span, "aborted: the network shut down during the model call", "aborted");
        }
        calls.clear();
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
        options.onEnd?.();
        return;
      }
    }
  };
  const off = net.on(listener, TRACED);
  return off;
}

/**
 * `gen_ai.provider.name` for the server kinds the LLM layer recognises: the conventions' own
 * names where they have one, the kind itself otherwise (a custom value, as they allow).
 */
const PROVIDERS: Readonly<Record<string, string>> = Object.freeze({
  azure: "azure.ai.openai",
});

/** What a model-call span knows when it starts (sampling decisions may use these). */
function callAttributes(event: ModelCallStarted, content: boolean): Attributes {
  const attributes: Attributes = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": PROVIDERS[event.server] ?? event.server,
    "gen_ai.request.model": event.model,
    "gen_ai.request.stream": true,
    "gen_ai.request.temperature": event.temperature,
    "server.address": event.serverAddress,
    "reflow.call.attempt": event.attempt,
  };
  if (event.serverPort !== undefined) attributes["server.port"] = event.serverPort;
  if (event.maxTokens !== undefined) attributes["gen_ai.request.max_tokens"] = event.maxTokens;
  if (content) {
    // JSON strings: the conventions allow that on spans, where structured values are not supported.
    attributes["gen_ai.system_instructions"] = JSON.stringify([
      { type: "text", content: event.system },
    ]);
    attributes["gen_ai.input.messages"] = JSON.stringify([
      { role: "user", parts: [{ type: "text", content: event.user }] },
    ]);
  }
  return attributes;
}

/** What a model-call span learns when the call ends. */
function resultAttributes(
  event: ModelCallFinished | ModelCallFailed,
  content: boolean,
): Attributes {
  const attributes: Attributes = {};
  if (event.timeToFirstChunkMs !== undefined) {
    attributes["gen_ai.response.time_to_first_chunk"] = event.timeToFirstChunkMs / 1000;
  }
  if (event._type !== "ModelCallFinished") return attributes;
  attributes["gen_ai.response.finish_reasons"] = [event.finishReason];
  if (event.responseId !== undefined) attributes["gen_ai.response.id"] = event.responseId;
  if (event.responseModel !== undefined) attributes["gen_ai.response.model"] = event.responseModel;
  if (event.usage) Object.assign(attributes, usageAttributes(event.usage));
  if (content) {
    attributes["gen_ai.output.messages"] = JSON.stringify([{
      role: "assistant",
      parts: [{ type: "text", content: event.text }],
      finish_reason: event.finishReason,
    }]);
  }
  return attributes;
}

/** `gen_ai.usage.*` of a token count. */
function usageAttributes(usage: TokenUsage): Attributes {
  const attributes: Attributes = {
    "gen_ai.usage.input_tokens": usage.inputTokens,
    "gen_ai.usage.output_tokens": usage.outputTokens,
  };
  if (usage.reasoningTokens !== undefined) {
    attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoningTokens;
  }
  if (usage.cachedInputTokens !== undefined) {
    attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cachedInputTokens;
  }
  return attributes;
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
