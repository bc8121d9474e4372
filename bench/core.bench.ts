/**
 * Entry: `npm run bench` (tsx, Node) or `deno run -A bench/core.bench.ts`. Prints each figure and
 * writes bench/results/core.json (the only runtime-specific part: file writing).
 */
import { type Result, runCoreBench } from "./lib.ts";

export { runCoreBench };

async function writeResult(result: Result): Promise<string> {
  const url = new URL(`./results/core${suffix(result)}.json`, import.meta.url);
  const text = JSON.stringify(result, null, 2) + "\n";
  // deno-lint-ignore no-explicit-any
  const deno = (globalThis as any).Deno;
  if (deno?.writeTextFile) {
    await deno.mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await deno.writeTextFile(url, text);
  } else {
    const fs = await import("node:fs/promises");
    await fs.mkdir(new URL("./results/", import.meta.url), { recursive: true });
    await fs.writeFile(url, text);
  }
  return url.pathname;
}

/** Node writes core.json; other runtimes core.<runtime>.json so that runs do not overwrite. */
function suffix(result: Result): string {
  return result.runtime.name === "node" ? "" : `.${result.runtime.name}`;
}

const result = await runCoreBench((line) => console.log(line));
console.log(`${result.runtime.name} ${result.runtime.version}, ${result.date}`);
console.log(`wrote ${await writeResult(result)}`);
