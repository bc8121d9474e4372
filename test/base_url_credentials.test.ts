/**
 * A base URL with credentials (`http://user:password@host/v1`, as LiteLLM or Ollama behind a
 * proxy with basic auth is written): `fetch` refuses such a URL, so the LLM layer sends them as
 * `Authorization: Basic …` (RFC 7617) to a local server that checks the header, unless an API key
 * is set (the key wins: `Bearer`). The password is never shown: not in an `LlmError` (message,
 * hint, fields), not in what the app's clients see (SSE, text, UI stream, errors even when verbose,
 * /healthz, the page), not in its log — neither as written nor as the base64 it travels as. Over
 * loopback HTTP on Node and Deno (the server reads the real request's header); in-process on every
 * runtime (the `fetch` option sees the same request); and the wrangler-built Worker in Miniflare
 * with such an `OPENAI_BASE_URL` (node only). The CLI's side is in cli.test.ts.
 */
import assert from "node:assert/strict";
import { type Runtime, test } from "./harness.ts";
import { serve } from "./serve.ts";
import { freedPortUrl } from "./http_helpers.ts";
import { withWorker } from "./worker_build.ts";
import { createApp } from "../routes/app.ts";
import { createOfflineModel, LlmError, streamChat } from "../src/llm/mod.ts";

const USER = "alice";
// Non-ASCII, and characters that must be percent-encoded in a URL.
const PASSWORD = "pä55:w/rd@Zq9";
const USERINFO = `${USER}:${encodeURIComponent(PASSWORD)}`;
const BASIC = `Basic ${
  btoa(String.fromCharCode(...new TextEncoder().encode(`${USER}:${PASSWORD}`)))
}`;
/** Every form the password could leak in. */
const FORMS = [PASSWORD, encodeURIComponent(PASSWORD), BASIC.slice(6)];

const NET = {
  only: ["node", "deno"] as Runtime[],
  why: "workerd cannot listen on a loopback port (the in-process variants run there)",
};

/**
 * The offline model behind a proxy that wants `BASIC`: anything else is a 401 whose body echoes
 * the header it got (as some proxies do), so a leak would show.
 */
function guardedModel() {
  const model = createOfflineModel();
  const seen: { authorization: string | null; url: string }[] = [];
  const handle = async (req: Request): Promise<Response> => {
    const authorization = req.headers.get("authorization");
    seen.push({ authorization, url: req.url });
    if (authorization !== BASIC) {
      return Response.json(
        { error: { message: `proxy: credentials refused (got ${authorization})` } },
        { status: 401, headers: { "www-authenticate": 'Basic realm="llm"' } },
      );
    }
    return await model.handle(req);
  };
  return { seen, handle };
}

type Where = "loopback" | "in-process";

/** The guarded model reachable at `http://<userinfo>@…/v1`, over `where`. */
async function at(where: Where, userinfo: string) {
  const m = guardedModel();
  if (where === "in-process") {
    const fetch = (input: RequestInfo | URL, init?: RequestInit) =>
      m.handle(new Request(input, init));
    return {
      ...m,
      baseURL: `http://${userinfo}@model.internal.test/v1`,
      fetch,
      close: async () => {},
    };
  }
  const served = await serve(m.handle);
  const url = new URL(served.url);
  return {
    ...m,
    baseURL: `http://${userinfo}@${url.host}/v1`,
    fetch: undefined,
    close: served.close,
  };
}

function leaks(text: string): string[] {
  return FORMS.filter((form) => text.includes(form));
}

/** A one-call chat request to `m`, no retries. */
function ask(m: { baseURL: string; fetch?: typeof fetch }) {
  return { baseURL: m.baseURL, fetch: m.fetch, system: "s", user: "Topic: zero", maxRetries: 0 };
}

async function collect(options: Parameters<typeof streamChat>[0]) {
  let text = "";
  for await (const delta of streamChat(options)) if (delta.type === "text") text += delta.text;
  return text;
}

async function failure(options: Parameters<typeof streamChat>[0]): Promise<LlmError> {
  try {
    await collect(options);
  } catch (error) {
    assert.ok(error instanceof LlmError, String(error));
    return error;
  }
  throw new Error("the call did not fail");
}

/** Everything an LlmError shows: message, fields, its JSON. */
function shown(error: LlmError): string {
  return [error.message, error.hint, error.serverMessage, error.baseURL, JSON.stringify(error)]
    .join("\n");
}

for (const where of ["loopback", "in-process"] as Where[]) {
  const options = where === "loopback" ? { ...NET, timeout: 20_000 } : { timeout: 20_000 };

  test(
    `base URL credentials go as Authorization: Basic, the URL without them (${where})`,
    async () => {
      const m = await at(where, USERINFO);
      try {
        const text = await collect({
          ...ask(m),
        });
        assert.ok(text.length > 20, "the answer arrived");
        assert.equal(m.seen.length, 1);
        assert.equal(m.seen[0].authorization, BASIC);
        assert.doesNotMatch(m.seen[0].url, /@/, "the request URL carries no credentials");
      } finally {
        await m.close();
      }
    },
    options,
  );

  test(
    `an API key wins over base URL credentials: Bearer, and they are not sent (${where})`,
    async () => {
      const m = await at(where, USERINFO);
      try {
        const error = await failure({
          ...ask(m),
          apiKey: "sk-the-key-1234",
        });
        assert.equal(m.seen[0].authorization, "Bearer sk-the-key-1234");
        assert.equal(error.code, "unauthorized");
        assert.deepEqual(leaks(shown(error)), []);
      } finally {
        await m.close();
      }
    },
    options,
  );

  test(`a refused password is an unauthorized error that never shows it (${where})`, async () => {
    // The proxy wants PASSWORD; the URL carries another one, which must not show either.
    const wrong = "Wr0ng-pass-Zx7";
    const m = await at(where, `${USER}:${wrong}`);
    try {
      const error = await failure({
        ...ask(m),
      });
      assert.equal(error.code, "unauthorized");
      assert.equal(error.status, 401);
      const text = shown(error);
      // The proxy's words are there (it echoed the Basic header it got)…
      assert.match(error.serverMessage ?? "", /credentials refused/);
      assert.match(error.message, /refused the user and password of the base URL/);
      assert.match(error.hint ?? "", /check the user and password in the base URL/);
      // …but not the password, raw or as base64, nor the userinfo.
      const sentBasic = btoa(`${USER}:${wrong}`);
      for (const form of [wrong, sentBasic, `${USER}:`]) {
        assert.ok(!text.includes(form), `${form} leaked: ${text}`);
      }
      assert.match(error.baseURL, /^http:\/\/[^@]*\/v1$/);
    } finally {
      await m.close();
    }
  }, options);
}

test(
  "a closed port behind credentials: the unreachable error names the URL without them",
  async () => {
    const url = new URL(await freedPortUrl());
    const error = await failure({
      baseURL: `http://${USERINFO}@${url.host}/v1`,
      system: "s",
      user: "Topic: zero",
      maxRetries: 0,
    });
    assert.equal(error.code, "unreachable");
    assert.match(error.message, new RegExp(`http://${url.host}/v1`));
    assert.deepEqual(leaks(shown(error)), []);
    assert.ok(!shown(error).includes(`${USER}:`));
  },
  NET,
);

for (const where of ["loopback", "in-process"] as Where[]) {
  test(
    `the app: flows run through the proxy; nothing a client or the log sees shows the password (${where})`,
    async () => {
      const right = await at(where, USERINFO);
      const wrong = await at(where, `${USER}:${encodeURIComponent(PASSWORD + "x")}`);
      try {
        const logged: string[] = [];
        const exposed: string[] = [];
        const show = async (res: Response) => {
          const text = `${res.status} ${JSON.stringify([...res.headers])}\n${await res.text()}`;
          exposed.push(text);
          return text;
        };
        const post = (query = "") =>
          [`/research${query}`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ topic: "the history of zero" }),
          }] as const;
        // With the right password every agent answers (four calls, each with the Basic header).
        const good = createApp({
          llm: { baseURL: right.baseURL, fetch: right.fetch, maxRetries: 0 },
          log: (line) => logged.push(line),
        });
        assert.match(await show(await good.request(...post())), /event: done/);
        assert.equal(right.seen.length, 4);
        assert.ok(right.seen.every((s) => s.authorization === BASIC));
        for (const path of ["/healthz", "/", "/graph"]) await show(await good.request(path));

        // A refused one fails, and neither the plain nor the verbose error shows it.
        for (const verboseErrors of [false, true]) {
          const bad = createApp({
            llm: { baseURL: wrong.baseURL, fetch: wrong.fetch, maxRetries: 0 },
            log: (line) => logged.push(line),
            verboseErrors,
          });
          const sse = await show(await bad.request(...post()));
          assert.match(sse, /event: error/);
          assert.match(sse, /"code":"unauthorized"/);
          if (verboseErrors) {
            assert.match(sse, /credentials refused/, "the verbose error has the proxy's words");
          }
          assert.match(await show(await bad.request(...post("?format=text"))), /error: /);
          await show(await bad.request(...post("?format=ui")));
        }
        assert.ok(logged.some((line) => /credentials refused/.test(line)), "the log has the story");
        const everything = [...exposed, ...logged].join("\n");
        const wrongForms = [
          PASSWORD + "x",
          encodeURIComponent(PASSWORD + "x"),
          btoa(
            String.fromCharCode(...new TextEncoder().encode(`${USER}:${PASSWORD}x`)),
          ),
        ];
        for (const form of [...FORMS, ...wrongForms]) {
          assert.ok(!everything.includes(form), `${form} leaked`);
        }
      } finally {
        await right.close();
        await wrong.close();
      }
    },
    where === "loopback" ? { ...NET, timeout: 30_000 } : { timeout: 30_000 },
  );
}

test(
  "worker: OPENAI_BASE_URL with credentials reaches the proxy as basic auth; a malformed one is a 500",
  async () => {
    const m = await at("loopback", USERINFO);
    try {
      await withWorker({ OPENAI_BASE_URL: m.baseURL, REFLOW_MODEL: "m" }, async (mf) => {
        const res = await mf.dispatchFetch("http://worker.test/research?format=text", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ topic: "the history of zero" }),
        });
        const text = await res.text();
        assert.match(text, /\[answer\] /);
        assert.ok(m.seen.length >= 4 && m.seen.every((s) => s.authorization === BASIC));
        const health = await (await mf.dispatchFetch("http://worker.test/healthz")).text();
        const page = await (await mf.dispatchFetch("http://worker.test/")).text();
        assert.deepEqual(leaks(text + health + page), []);
      });
      // A URL that does not parse: every request is a 500 misconfigured, which names no secret.
      const bad = `http://${USERINFO}@[bad/v1`;
      await withWorker({ OPENAI_BASE_URL: bad }, async (mf) => {
        const res = await mf.dispatchFetch("http://worker.test/healthz");
        assert.equal(res.status, 500);
        const body = await res.text();
        assert.match(body, /"code":"misconfigured"/);
        assert.deepEqual(leaks(body), []);
      });
    } finally {
      await m.close();
    }
  },
  {
    only: ["node"],
    why: "builds the Worker with wrangler and drives workerd through Miniflare from Node",
    timeout: 120_000,
  },
);
