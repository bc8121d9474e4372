/**
 * `bench:cpu`'s app server: the real Hono app (routes/app.ts) with the replayed model in-process
 * (or the model server named after the recording on the command line), served as `--serve` serves
 * it (cli/serve.ts): `listen()` (node:http through @hono/node-server, under Node and Deno alike),
 * runs kept where `--serve` keeps them (`chooseRunStore`: SQLite where the runtime has
 * node:sqlite, memory otherwise; here a file beside the recording). The admission caps are
 * raised (an operator's REFLOW_MAX_FLOWS / REFLOW_MAX_FLOWS_PER_CLIENT /
 * REFLOW_MAX_FLOW_STARTS_PER_MINUTE / REFLOW_FLOW_START_BURST) so that one load client may run
 * 1,000 flows at once and start them as fast as it likes. Listens on 127.0.0.1, a free port, printed as `listening <port>`.
 */
import { createApp, researchRuns } from "../../routes/app.ts";
import { clientAddress, listen } from "../../cli/listen.ts";
import { chooseRunStore } from "../../cli/sqlite.ts";
import { replayFetch } from "./replay.ts";
import { args, isDeno, loadReplay, modelURL, ready } from "./serve.ts";

const replay = await loadReplay();
const baseURL = modelURL();
// Beside the recording (an absolute path, so a --baseline tree's server writes there too).
const dir = args()[0].replace(/[^/]*$/, "");
const store = await chooseRunStore(
  `${dir}runs-${isDeno ? "deno" : "node"}-${crypto.randomUUID()}.db`,
);
console.error(store.notice);
const app = createApp({
  llm: baseURL
    ? { baseURL, apiKey: "bench" }
    : { baseURL: "http://model.invalid/v1", fetch: replayFetch(replay) },
  clientAddress,
  maxFlows: 5000,
  maxFlowsPerClient: 5000,
  maxFlowStartsPerClientPerMinute: 1e9,
  flowStartBurstPerClient: 1e9,
  runs: researchRuns({ store: store.store }),
});
// deno-lint-ignore no-explicit-any
const g = globalThis as any;
if (isDeno && g.Deno.env.get("BENCH_VARIANT") === "deno-serve") {
  // For comparison only (bench:cpu --variant deno-serve): what --serve cost under Deno before it
  // moved to node:http for its time limits.
  const server = g.Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
  ready(server.addr.port);
} else {
  const server = await listen(app.fetch, { port: 0, hostname: "127.0.0.1" });
  ready(server.port);
}
