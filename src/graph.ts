import { z } from "zod";
import type { ActorTemplate } from "./actor.ts";
import { describe } from "./errors.ts";
import { type Message, messageFromWire, messageToWire, type WireMessage } from "./message.ts";
import { Network, type NetworkOptions, type NodeInfo } from "./network.ts";

/** One fault in a graph, with the JSON path where it is. */
export interface GraphIssue {
  path: string;
  message: string;
}

/** A graph that cannot be run: every fault found, each with its JSON path. */
export class GraphError extends Error {
  override name = "GraphError";
  constructor(readonly issues: GraphIssue[]) {
    super(
      `invalid graph (${issues.length} ${issues.length === 1 ? "fault" : "faults"}):\n` +
        issues.map((i) => `  ${i.path}: ${i.message}`).join("\n"),
    );
  }
}

/** A port reference as a graph holds it, with the JSON paths of its fields for error messages. */
interface PortRef {
  node: string;
  port: string;
  nodePath: string;
  portPath: string;
}

/** A graph in one normalised form, whichever format it was read from. */
export interface GraphSpec {
  name: string;
  caseSensitive: boolean;
  properties: Record<string, unknown>;
  processes: Record<string, { component: string; metadata: Record<string, unknown> }>;
  connections: { from: PortRef; to: PortRef; metadata: Record<string, unknown>; path: string }[];
  initials: { to: PortRef; data: unknown; metadata: Record<string, unknown>; path: string }[];
  inports: Record<string, unknown>;
  outports: Record<string, unknown>;
  groups: unknown[];
}

const metadata = z.record(z.string(), z.unknown()).default({});
const name = z.string().min(1, "must be a non-empty string");
const reflowEnd = z.object({ nodeId: name, portName: name, index: z.number().int().optional() });
const fbpEnd = z.object({ process: name, port: name, index: z.number().int().optional() });

/** A connection has a source port, or is an initial packet with `data`; never both, never neither. */
function hasSourceOrData(c: { from?: unknown; src?: unknown; data?: unknown }): boolean {
  return ((c.from ?? c.src) === undefined) !== (c.data === undefined);
}

function sourceOrDataMessage(source: string): { message: string } {
  return {
    message: `a connection needs either "${source}" (an edge) or "data" (an initial packet)`,
  };
}

const common = {
  caseSensitive: z.boolean().default(false),
  properties: z.object({ name: z.string().optional() }).passthrough().default({}),
  processes: z.record(z.string(), z.object({ component: name, metadata })),
  inports: z.record(z.string(), z.unknown()).default({}),
  outports: z.record(z.string(), z.unknown()).default({}),
  groups: z.array(z.unknown()).default([]),
};

const ReflowGraphSchema = z.object({
  ...common,
  connections: z.array(
    z.object({ from: reflowEnd.optional(), to: reflowEnd, data: z.unknown().optional(), metadata })
      .refine(hasSourceOrData, sourceOrDataMessage("from")),
  ).default([]),
});

const FbpGraphSchema = z.object({
  ...common,
  connections: z.array(
    z.object({ src: fbpEnd.optional(), tgt: fbpEnd, data: z.unknown().optional(), metadata })
      .refine(hasSourceOrData, sourceOrDataMessage("src")),
  ).default([]),
});

/** One end of a connection in Reflow's export. */
export interface ReflowPortRef {
  nodeId: string;
  portName: string;
  index?: number;
}

/** Reflow's graph export, as written by {@link toGraphJson}. */
export interface ReflowGraphJson {
  caseSensitive: boolean;
  properties: { name: string; [key: string]: unknown };
  processes: Record<string, { component: string; metadata: Record<string, unknown> }>;
  connections: (
    | { from: ReflowPortRef; to: ReflowPortRef; metadata: Record<string, unknown> }
    | { to: ReflowPortRef; data: unknown; metadata: Record<string, unknown> }
  )[];
  inports: Record<string, unknown>;
  outports: Record<string, unknown>;
  groups: unknown[];
}

/**
 * Reads a graph in Reflow's export form (`connections: [{ from: { nodeId, portName }, to }]`) or
 * the fbp-graph / NoFlo form (`connections: [{ src: { process, port }, tgt }]`), from an object or
 * JSON text. Fills in missing optional fields; throws a {@link GraphError} listing every fault.
 *
 * @example
 * ```ts
 * const spec = parseGraph(await Deno.readTextFile("research.json"));
 * ```
 */
export function parseGraph(input: unknown): GraphSpec {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (error) {
      throw new GraphError([{ path: "$", message: `not valid JSON: ${describe(error)}` }]);
    }
    const duplicates = duplicateKeys(input);
    if (duplicates.length) throw new GraphError(duplicates);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new GraphError([{ path: "$", message: "a graph must be a JSON object" }]);
  }
  const connections = (value as { connections?: unknown }).connections;
  const fbp = Array.isArray(connections) &&
    connections.some((c) => typeof c === "object" && c !== null && ("tgt" in c || "src" in c));
  const parsed = (fbp ? FbpGraphSchema : ReflowGraphSchema).safeParse(value);
  if (!parsed.success) {
    throw new GraphError(parsed.error.issues.map((issue) => ({
      path: jsonPath(issue.path),
      message: issue.message,
    })));
  }
  const g = parsed.data;
  const spec: GraphSpec = {
    name: typeof g.properties.name === "string" ? g.properties.name : "",
    caseSensitive: g.caseSensitive,
    properties: g.properties,
    processes: g.processes,
    connections: [],
    initials: [],
    inports: g.inports,
    outports: g.outports,
    groups: g.groups,
  };
  g.connections.forEach((c, i) => {
    const path = `$.connections[${i}]`;
    const e = c as {
      from?: z.infer<typeof reflowEnd>;
      to?: z.infer<typeof reflowEnd>;
      src?: z.infer<typeof fbpEnd>;
      tgt?: z.infer<typeof fbpEnd>;
      data?: unknown;
    };
    const to = fbp ? fbpRef(e.tgt!, `${path}.tgt`) : reflowRef(e.to!, `${path}.to`);
    const from = fbp
      ? e.src && fbpRef(e.src, `${path}.src`)
      : e.from && reflowRef(e.from, `${path}.from`);
    if (from) spec.connections.push({ from, to, metadata: c.metadata, path });
    else spec.initials.push({ to, data: e.data, metadata: c.metadata, path });
  });
  return spec;
}

/**
 * Builds a network from a graph: parses it, checks every component, node, port and initial
 * packet against the registered actors, and reports all faults at once in a {@link GraphError}.
 * Connection metadata `capacity` sets that connection's capacity.
 *
 * @example
 * ```ts
 * const net = loadGraph(json, { tpl_factual: FactualResearcher, tpl_logger: Logger });
 * await net.start();
 * ```
 */
export function loadGraph(
  input: unknown,
  actors: Record<string, ActorTemplate>,
  options: NetworkOptions = {},
): Network {
  const spec = parseGraph(input);
  const net = new Network(options);
  for (const [template, actor] of Object.entries(actors)) net.registerActor(template, actor);
  const issues: GraphIssue[] = [];
  const registered = Object.keys(actors);
  const lower = new Map<string, string>();
  for (const [id, proc] of Object.entries(spec.processes)) {
    const key = spec.caseSensitive ? id : id.toLowerCase();
    if (lower.has(key)) {
      issues.push({
        path: `$.processes.${id}`,
        message: `duplicate node id "${id}" (same as "${
          lower.get(key)
        }": graph is case-insensitive)`,
      });
      continue;
    }
    lower.set(key, id);
    if (!Object.hasOwn(actors, proc.component)) {
      issues.push({
        path: `$.processes.${id}.component`,
        message: `unknown component "${proc.component}" (registered: ${
          registered.join(", ") || "none"
        })`,
      });
      continue;
    }
    try {
      net.addNode(id, proc.component, proc.metadata);
    } catch (error) {
      issues.push({ path: `$.processes.${id}`, message: describe(error) });
    }
  }
  const nodes = new Map(net.describeNodes().map((n) => [n.id, n]));
  const portOf = (ref: PortRef, direction: "inports" | "outports"): string | undefined => {
    if (!Object.hasOwn(spec.processes, ref.node)) {
      issues.push({
        path: ref.nodePath,
        message: `unknown node "${ref.node}" (nodes: ${
          Object.keys(spec.processes).join(", ") || "none"
        })`,
      });
      return undefined;
    }
    const node = nodes.get(ref.node);
    if (!node) return undefined; // its own fault is reported at the process
    const port = findPort(node, direction, ref.port, spec.caseSensitive);
    if (port === undefined) {
      issues.push({
        path: ref.portPath,
        message: `node "${ref.node}" has no ${
          direction.slice(0, -1)
        } "${ref.port}" (${direction}: ${node[direction].join(", ") || "none"})`,
      });
    }
    return port;
  };
  for (const c of spec.connections) {
    const outport = portOf(c.from, "outports");
    const inport = portOf(c.to, "inports");
    if (outport === undefined || inport === undefined) continue;
    try {
      net.addConnection(c.from.node, outport, c.to.node, inport, {
        capacity: c.metadata.capacity as number | undefined,
        metadata: c.metadata,
      });
    } catch (error) {
      issues.push({ path: `${c.path}.metadata.capacity`, message: describe(error) });
    }
  }
  for (const iip of spec.initials) {
    const inport = portOf(iip.to, "inports");
    let message: Message;
    try {
      message = initialMessage(iip.data);
    } catch (error) {
      issues.push({ path: `${iip.path}.data`, message: describe(error) });
      continue;
    }
    if (inport !== undefined) net.addInitial(iip.to.node, inport, message);
  }
  if (issues.length) throw new GraphError(issues);
  return net;
}

/**
 * Writes a network as Reflow's graph export (initial packets as connections with `data` and no
 * `from`), which {@link loadGraph} reads back.
 */
export function toGraphJson(net: Network, name = ""): ReflowGraphJson {
  const processes: ReflowGraphJson["processes"] = {};
  for (const n of net.describeNodes()) {
    processes[n.id] = { component: n.template, metadata: { ...n.metadata } };
  }
  const connections: ReflowGraphJson["connections"] = [];
  for (const c of net.describeConnections()) {
    const meta = { ...c.metadata };
    if (c.capacity !== undefined) meta.capacity = c.capacity;
    connections.push({
      from: { nodeId: c.from, portName: c.outport },
      to: { nodeId: c.to, portName: c.inport },
      metadata: meta,
    });
  }
  for (const i of net.describeInitials()) {
    connections.push({
      to: { nodeId: i.node, portName: i.port },
      data: messageToWire(i.message) as WireMessage,
      metadata: {},
    });
  }
  return {
    caseSensitive: false,
    properties: { name },
    processes,
    connections,
    inports: {},
    outports: {},
    groups: [],
  };
}

/**
 * An initial packet's `data`: a wire message (`{ type: "String", data: "…" }`) is taken as it is;
 * any other JSON value is wrapped in the variant that fits it (string → String, whole number →
 * Integer, number → Float, boolean → Boolean, array → Array, object → Object, null → Flow).
 */
export function initialMessage(data: unknown): Message {
  if (
    typeof data === "object" && data !== null && !Array.isArray(data) && "type" in data &&
    Object.keys(data).every((k) => k === "type" || k === "data")
  ) {
    return messageFromWire(data, "message");
  }
  switch (typeof data) {
    case "string":
      return { type: "String", data };
    case "number":
      return Number.isSafeInteger(data) ? { type: "Integer", data } : { type: "Float", data };
    case "boolean":
      return { type: "Boolean", data };
    case "undefined":
      return { type: "Flow" };
  }
  if (data === null) return { type: "Flow" };
  return messageFromWire({ type: Array.isArray(data) ? "Array" : "Object", data }, "data");
}

function findPort(
  node: NodeInfo,
  direction: "inports" | "outports",
  port: string,
  caseSensitive: boolean,
): string | undefined {
  const ports = node[direction];
  if (ports.includes(port)) return port;
  if (caseSensitive) return undefined;
  const wanted = port.toLowerCase();
  return ports.find((p) => p.toLowerCase() === wanted);
}

function reflowRef(end: { nodeId: string; portName: string }, path: string): PortRef {
  return {
    node: end.nodeId,
    port: end.portName,
    nodePath: `${path}.nodeId`,
    portPath: `${path}.portName`,
  };
}

function fbpRef(end: { process: string; port: string }, path: string): PortRef {
  return {
    node: end.process,
    port: end.port,
    nodePath: `${path}.process`,
    portPath: `${path}.port`,
  };
}

function jsonPath(path: readonly PropertyKey[]): string {
  let out = "$";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
  return out;
}

/**
 * Finds keys that appear twice in one object of a JSON text: `JSON.parse` keeps the last silently,
 * which would drop a node without a word.
 */
function duplicateKeys(text: string): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const stack: { keys: Set<string> | null; path: string; index: number; key: string }[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) {
          issues.push({ path: `${top.path}.${key}`, message: `duplicate key "${key}"` });
        }
        top.keys.add(key);
        top.key = key;
        expectKey = false;
      }
      i = j;
    } else if (ch === "{" || ch === "[") {
      const top = stack[stack.length - 1];
      const path = !top ? "$" : top.keys ? `${top.path}.${top.key}` : `${top.path}[${top.index}]`;
      stack.push({ keys: ch === "{" ? new Set() : null, path, index: 0, key: "" });
      expectKey = ch === "{";
    } else if (ch === "}" || ch === "]") {
      stack.pop();
    } else if (ch === ",") {
      const top = stack[stack.length - 1];
      if (top?.keys) expectKey = true;
      else if (top) top.index++;
    }
  }
  return issues;
}
