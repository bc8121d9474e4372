/**
 * Proves the harness runs the same file on Node (vitest), Deno and workerd, and probes the
 * web-platform behaviour the runtime relies on where the three runtimes could differ.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { deferred, runtime, test } from "./harness.ts";

test("harness: runtime is detected from the globals", () => {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const expected = typeof g.Deno?.test === "function"
    ? "deno"
    : g.navigator?.userAgent === "Cloudflare-Workers"
    ? "workerd"
    : "node";
  assert.equal(runtime, expected);
});

test("harness: deferred resolves and rejects", async () => {
  const ok = deferred<number>();
  ok.resolve(42);
  assert.equal(await ok.promise, 42);
  const bad = deferred();
  bad.reject(new Error("boom"));
  await assert.rejects(bad.promise, /boom/);
});

test("TransformStream round-trips object chunks in order", async () => {
  const ts = new TransformStream<{ id: number }, { id: number; seen: true }>({
    transform(chunk, ctl) {
      ctl.enqueue({ ...chunk, seen: true });
    },
  });
  const writer = ts.writable.getWriter();
  const reader = ts.readable.getReader();
  const out: number[] = [];
  const reading = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      assert.equal(value.seen, true);
      out.push(value.id);
    }
  })();
  for (let id = 0; id < 100; id++) await writer.write({ id });
  // Always await close() and drain: an unawaited close on a torn-down chain can crash workerd.
  await writer.close();
  await reading;
  assert.deepEqual(out, Array.from({ length: 100 }, (_, i) => i));
});

test("fast-check: pipeThrough a chain of TransformStreams preserves any sequence", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.jsonValue(), { maxLength: 30 }),
      fc.integer({ min: 1, max: 5 }),
      async (chunks, hops) => {
        let readable = ReadableStream.from(chunks.map((value) => ({ value })));
        for (let i = 0; i < hops; i++) readable = readable.pipeThrough(new TransformStream());
        const got: unknown[] = [];
        for await (const chunk of readable) got.push(chunk.value);
        assert.deepEqual(got, chunks);
      },
    ),
    { numRuns: 50 },
  );
});

test("async iteration of a ReadableStream, and break cancels the source", async () => {
  const cancelled = deferred<unknown>();
  let pulled = 0;
  const rs = new ReadableStream<number>({
    pull(ctl) {
      ctl.enqueue(pulled++);
    },
    cancel(reason) {
      cancelled.resolve(reason);
    },
  });
  const seen: number[] = [];
  for await (const n of rs) {
    seen.push(n);
    if (n === 4) break;
  }
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  assert.equal(await cancelled.promise, undefined);
  assert.equal(rs.locked, false);
});

test("AbortSignal.timeout fires a TimeoutError that can cancel an idle read", async () => {
  const signal = AbortSignal.timeout(30);
  const reader = new ReadableStream({ pull: () => new Promise(() => {}) }).getReader();
  signal.addEventListener("abort", () => reader.cancel(signal.reason));
  const start = Date.now();
  assert.deepEqual(await reader.read(), { done: true, value: undefined });
  assert.ok(signal.reason instanceof DOMException);
  assert.equal(signal.reason.name, "TimeoutError");
  // workerd's clock is 1 ms resolution; allow a little slack below the nominal 30 ms.
  assert.ok(Date.now() - start >= 25, `aborted after ${Date.now() - start} ms`);
});

test("pipeTo({ signal }) rejects when aborted while the source is idle", async () => {
  const signal = AbortSignal.timeout(30);
  const idle = new ReadableStream({ pull: () => new Promise(() => {}) });
  await assert.rejects(idle.pipeTo(new WritableStream(), { signal }), (e: unknown) => {
    assert.ok(e instanceof DOMException);
    assert.equal(e.name, "TimeoutError");
    return true;
  });
}, {
  only: ["node", "deno"],
  why: "workerd 1.20260426 ignores the abort while pipeTo waits on a read: the pipe hangs; " +
    "cancel the source's reader on abort instead",
});

test("timers: microtasks run before timers, delays are honoured, clearTimeout works", async () => {
  const order: string[] = [];
  const done = deferred();
  setTimeout(() => {
    order.push("timeout");
    done.resolve();
  }, 0);
  queueMicrotask(() => order.push("microtask"));
  Promise.resolve().then(() => order.push("promise"));
  order.push("sync");
  await done.promise;
  assert.deepEqual(order, ["sync", "microtask", "promise", "timeout"]);

  const cleared = setTimeout(() => assert.fail("cleared timer fired"), 5);
  clearTimeout(cleared);
  const start = Date.now();
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(Date.now() - start >= 45, `50 ms timer fired after ${Date.now() - start} ms`);
});

test("new Response(stream) rejects non-byte chunks (message differs per runtime)", async () => {
  const rs = new ReadableStream({
    start(ctl) {
      ctl.enqueue({ not: "bytes" });
      ctl.close();
    },
  });
  await assert.rejects(new Response(rs).text());
  const bytes = ReadableStream.from([new TextEncoder().encode("ok")]);
  assert.equal(await new Response(bytes).text(), "ok");
});

test("harness: a runtime-limited test is reported as not run, with its reason", async () => {
  // Imported inside the test so the workerd bundle never has to resolve it.
  const { readFile } = await import("node:fs/promises");
  const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
  assert.equal(pkg.name, "reflow-edge");
}, { only: ["node", "deno"], why: "the Worker bundle has no access to the repository's files" });
