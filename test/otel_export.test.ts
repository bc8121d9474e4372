/**
 * The README's Deno recipe, end to end: `OTEL_DENO=true deno run -A main.ts --serve` sends the
 * traces of the flows it serves to an OTLP/HTTP endpoint. The endpoint here is a loopback server
 * that answers as an OTLP receiver does (the OTLP/HTTP spec, opentelemetry-proto
 * `docs/specification.md`: `POST /v1/traces` with an `ExportTraceServiceRequest`, JSON when
 * `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`, answered `200` with an `ExportTraceServiceResponse`).
 */
import assert from "node:assert/strict";
import { test } from "./harness.ts";
import { serve } from "./serve.ts";
import { eventually } from "./http_helpers.ts";
import { type ServeProcess, startServe } from "./serve_process.ts";

interface OtlpSpan {
  name: string;
  spanId: string;
  parentSpanId?: string;
  traceId: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

test("otel: --serve under OTEL_DENO=true sends the run's trace to an OTLP endpoint", async () => {
  const spans: OtlpSpan[] = [];
  const receiver = await serve(async (req) => {
    if (new URL(req.url).pathname === "/v1/traces") {
      const body = await req.json();
      for (const rs of body.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) {
          if (ss.scope?.name === "reflow-edge") spans.push(...ss.spans);
        }
      }
    } else await req.arrayBuffer(); // metrics, logs: accepted and dropped
    return Response.json({});
  });
  let server: ServeProcess | undefined;
  try {
    server = await startServe("deno", {
      REFLOW_RUNS_DB: "memory",
      OTEL_DENO: "true",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: "reflow-edge-test",
    });
    const url = server.url;
    const res = await fetch(`${url}/research?topic=zero&format=text`);
    assert.match(await res.text(), /\[answer\]/);
    // Deno batches its exports: wait for the run's span (the last to end).
    await eventually(
      () => spans.some((s) => s.name === "invoke_workflow research"),
      "the run's span at the OTLP endpoint",
      20_000,
    );
  } finally {
    await server?.kill("SIGINT");
    await receiver.close();
  }
  const run = spans.find((s) => s.name === "invoke_workflow research")!;
  const agents = spans.filter((s) => s.name.startsWith("invoke_agent "));
  assert.deepEqual(agents.map((s) => s.name).sort(), [
    "invoke_agent factual_researcher",
    "invoke_agent quoter",
    "invoke_agent sink",
    "invoke_agent statistician",
    "invoke_agent synthesizer",
  ], "one span per agent; --serve leaves out the logger's per-token ticks");
  for (const agent of agents) {
    assert.equal(agent.parentSpanId, run.spanId);
    assert.equal(agent.traceId, run.traceId);
  }
  const chats = spans.filter((s) => s.name.startsWith("chat "));
  assert.equal(chats.length, 4);
  for (const chat of chats) {
    assert.ok(
      agents.some((a) => a.spanId === chat.parentSpanId),
      "a chat span is its agent's child",
    );
    const tokens = chat.attributes.find((a) => a.key === "gen_ai.usage.output_tokens");
    // Deno's exporter sends JS numbers as doubles; the JS SDK's sends whole numbers as ints.
    const count = Number(tokens?.value.intValue ?? tokens?.value.doubleValue);
    assert.ok(count > 0, JSON.stringify(chat.attributes));
  }
}, {
  only: ["node"],
  why: "spawns Deno (its built-in OpenTelemetry) from Node with node:child_process; once is enough",
  timeout: 60_000,
});
