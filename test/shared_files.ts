/**
 * Files from `../shared` (beside the repository) that tests read in place and never copy: on
 * Node and Deno from disk, inside workerd from the test bundle, which scripts/test-workers.mjs
 * builds with them when `../shared` is present. When it is absent, `missing` says so, and the
 * tests that need the files are reported as not run with that reason.
 */
import { runtime } from "./harness.ts";

export type SharedFiles = { files: Record<string, string>; missing?: undefined } | {
  files?: undefined;
  missing: string;
};

/** Every file of `../shared/<dir>`, by `<dir>/<name>`. */
export async function sharedFiles(dir: string): Promise<SharedFiles> {
  if (runtime === "workerd") {
    const bundled = (globalThis as { REFLOW_SHARED_FILES?: SharedFiles }).REFLOW_SHARED_FILES;
    if (!bundled) return { missing: "the test bundle was built without ../shared" };
    if (bundled.missing) return bundled;
    const files = Object.fromEntries(
      Object.entries(bundled.files ?? {}).filter(([name]) => name.startsWith(`${dir}/`)),
    );
    return Object.keys(files).length ? { files } : { missing: `../shared/${dir} is absent` };
  }
  const fs = await import("node:fs/promises");
  const base = new URL(`../../shared/${dir}/`, import.meta.url);
  let names: string[];
  try {
    names = (await fs.readdir(base)).sort();
  } catch {
    return { missing: `../shared/${dir} is absent (it lives beside the repository)` };
  }
  const files: Record<string, string> = {};
  for (const name of names) {
    files[`${dir}/${name}`] = await fs.readFile(new URL(name, base), "utf8");
  }
  return { files };
}
