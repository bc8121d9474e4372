/**
 * `.fbp` text (the FBP DSL that NoFlo and Flowhub write) read into the {@link Graph} model,
 * through flowbased's own parser (npm `fbp`, the generated PEG parser NoFlo's `loadFBP` uses).
 * A separate entry point (`reflow-edge/fbp`): the parser adds about 8 KB gzip to a bundle, which
 * the Worker does not need. Bundling it: mark `tv4` external (the parser names it only for an
 * optional schema check that this module never turns on).
 *
 * @module
 */
import fbp from "fbp";
import { GraphError } from "./model.ts";
import type { Graph } from "./model.ts";
import { readGraph } from "./read.ts";

interface FbpParser {
  parse(
    text: string,
    options: { caseSensitive?: boolean; validateSchema?: boolean; validateContents?: boolean },
  ): unknown;
}

interface PegError {
  name?: string;
  message?: string;
  location?: { start: { line: number; column: number } };
}

/**
 * Reads `.fbp` text into a graph. Port names are lower-cased unless `caseSensitive` (the DSL's
 * default, as NoFlo's `loadFBP`); `# @name` and other annotations become properties,
 * `node(Component:key=value)` node metadata. A syntax error or a reference to a node with no
 * component is a {@link GraphError} naming the line and column, or the node.
 *
 * @example
 * ```ts
 * import { parseFbp } from "reflow-edge/fbp";
 * const graph = parseFbp(`'zero' -> IN up(tpl_upper) OUT -> IN print(tpl_print)`);
 * const net = loadGraph(graph, actors);
 * ```
 */
export function parseFbp(text: string, options: { caseSensitive?: boolean } = {}): Graph {
  if (typeof text !== "string") {
    throw new GraphError([{ path: "$", message: ".fbp text must be a string" }]);
  }
  let json: unknown;
  try {
    json = (fbp as FbpParser).parse(text, {
      caseSensitive: options.caseSensitive ?? false,
      validateSchema: false,
    });
  } catch (error) {
    const e = error as PegError;
    const at = e.location?.start;
    const where = at ? `line ${at.line}, column ${at.column}: ` : "";
    throw new GraphError([{ path: "$", message: `${where}${e.message ?? String(error)}` }]);
  }
  return readGraph(json).graph;
}
