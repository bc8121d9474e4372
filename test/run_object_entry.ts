/**
 * A Worker for test/run_object.test.ts: `GET /?check=N` runs store-contract check N inside a fresh
 * SQLite-backed Durable Object (one object per check, so each gets an empty database), on that
 * object's own `ctx.storage.sql` through the same driver the RunObject uses.
 */
import { STORE_CONTRACT } from "./run_store_contract.ts";
import { SqlRunStore } from "../src/runs/sql_store.ts";
import {
  type DurableObjectNamespaceLike,
  durableObjectSqlDriver,
  type DurableObjectStateLike,
} from "../worker.ts";

export class ContractObject {
  constructor(private readonly state: DurableObjectStateLike) {}

  fetch(request: Request): Response {
    const n = Number(new URL(request.url).searchParams.get("check"));
    const [name, check] = STORE_CONTRACT[n];
    try {
      check(new SqlRunStore(durableObjectSqlDriver(this.state.storage), "durable-object"));
      return Response.json({ name, ok: true });
    } catch (error) {
      return Response.json({ name, ok: false, error: String((error as Error).stack ?? error) });
    }
  }
}

export default {
  fetch(request: Request, env: { CONTRACT: DurableObjectNamespaceLike }): Promise<Response> {
    const n = new URL(request.url).searchParams.get("check") ?? "0";
    return env.CONTRACT.get(env.CONTRACT.idFromName(`check-${n}`)).fetch(request);
  },
};
