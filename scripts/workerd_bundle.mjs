/**
 * How this project bundles a module for workerd with esbuild: one ES module, no platform
 * built-ins assumed, and the package export conditions workerd resolves (Cloudflare's own
 * `workerd` condition first, then `worker` and `browser`). Spread it into `esbuild.build`
 * beside the entry point, the outfile and anything particular to that bundle.
 *
 * @example
 * ```js
 * await esbuild.build({ ...WORKERD_BUNDLE, entryPoints: ["worker.ts"], outfile: "dist/w.mjs" });
 * ```
 */
export const WORKERD_BUNDLE = Object.freeze({
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["workerd", "worker", "browser", "module", "main"],
});
