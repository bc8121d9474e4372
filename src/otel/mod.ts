/**
 * OpenTelemetry for reflow-edge: spans from a network's events, following the GenAI semantic
 * conventions. Depends only on `@opentelemetry/api` (a peer dependency); register any SDK to
 * export the spans.
 *
 * @example
 * ```ts
 * import { traceNetwork } from "reflow-edge/otel";
 * const stop = traceNetwork(net, { workflowName: "research" });
 * ```
 * @module
 */
export { errorType, traceNetwork, type TraceOptions, TRACER_NAME } from "./trace_network.ts";
