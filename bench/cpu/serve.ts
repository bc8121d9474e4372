/**
 * Shared by the `bench:cpu` servers: read the recording, listen, and report the port.
 * `deno run -A bench/cpu/x.ts <recording.json>` or `node --import tsx bench/cpu/x.ts <recording.json>`.
 *
 * @module
 */
import { encodeRecording, type Recording, type Replay } from "./replay.ts";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

export const isDeno = typeof g.Deno?.version?.deno === "string";

/** The command line's arguments after the script. */
export function args(): string[] {
  return isDeno ? g.Deno.args : g.process.argv.slice(2);
}

/** The recording named on the command line, encoded. */
export async function loadReplay(): Promise<Replay> {
  const path = args()[0];
  if (!path) throw new Error("usage: <server> <recording.json>");
  const text: string = isDeno
    ? await g.Deno.readTextFile(path)
    : await (await import("node:fs/promises")).readFile(path, "utf8");
  return encodeRecording(JSON.parse(text) as Recording);
}

/**
 * The model: the replay in-process, or, when a base URL follows the recording on the command line,
 * a real model server over HTTP (the first-token measurement serves one from the driver).
 */
export function modelURL(): string | undefined {
  return args()[1];
}

/** Tells the driver where we listen (one line on stdout). */
export function ready(port: number): void {
  console.log(`listening ${port}`);
}
