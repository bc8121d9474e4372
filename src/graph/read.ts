/**
 * Reading graph documents into the {@link Graph} model: Reflow's export and loader shapes,
 * fbp-graph / NoFlo JSON, Zeal workflows, or the model itself, from an object or JSON text. The
 * shapes are checked with zod/mini; every fault is reported with its JSON path in our own words.
 *
 * Formats, as their sources define them:
 * - Reflow: offbit-ai/reflow `crates/reflow_graph/src/types.rs` (`GraphExport`, `GraphEdge`) and
 *   `lib.rs` (`Graph::export` writes `portName: ""` with the port in `portId` for edges made through
 *   its API, IIPs with an all-empty `from`, and `null` for unset `index` / `metadata` / `data`).
 * - fbp-graph / NoFlo: flowbased/fbp-graph `src/Graph.ts` (`loadJSON`), flowbased/fbp
 *   `schema/graph.json`.
 * - Zeal: offbit-ai/reflow `crates/reflow_server/src/zeal_converter.rs` (`ZealWorkflow`).
 *
 * @module
 */
import * as z from "zod/mini";
import { describe } from "../errors.ts";
import { issueMessage } from "../issues.ts";
import {
  type Graph,
  GraphError,
  type GraphExportedPort,
  type GraphGroup,
  type GraphInitial,
  type GraphIssue,
  type GraphPaths,
  type GraphPortRef,
  key,
  modelPaths,
  type ReadGraph,
  type RefPaths,
} from "./model.ts";

const text = z.string();
const name = z.string().check(z.minLength(1));
const index = z.optional(z.nullable(z.int().check(z.minimum(0))));
const record = z.record(z.string(), z.unknown());
const metadata = z.optional(z.nullable(record));

const ReflowEnd = z.looseObject({
  nodeId: z.optional(text),
  portName: z.optional(z.nullable(text)),
  portId: z.optional(z.nullable(text)),
  index,
});
const FbpEnd = z.looseObject({ process: name, port: name, index });
const Connection = z.looseObject({
  from: z.optional(z.nullable(ReflowEnd)),
  to: z.optional(ReflowEnd),
  src: z.optional(z.nullable(FbpEnd)),
  tgt: z.optional(FbpEnd),
  data: z.optional(z.unknown()),
  metadata,
});
const Exported = z.looseObject({
  process: z.optional(text),
  port: z.optional(text),
  nodeId: z.optional(text),
  portName: z.optional(z.nullable(text)),
  portId: z.optional(z.nullable(text)),
  metadata,
});
const JsonGraph = z.looseObject({
  caseSensitive: z.optional(z.boolean()),
  properties: z.optional(z.looseObject({ name: z.optional(z.nullable(text)) })),
  processes: z.record(z.string(), z.looseObject({ component: name, metadata })),
  connections: z.optional(z.array(Connection)),
  inports: z.optional(z.record(z.string(), Exported)),
  outports: z.optional(z.record(z.string(), Exported)),
  groups: z.optional(
    z.array(z.looseObject({
      name: z.optional(text),
      id: z.optional(text),
      nodes: z.array(text),
      metadata,
    })),
  ),
});

const ModelRef = z.looseObject({ node: name, port: name, index: z.optional(index) });
const ModelGraph = z.looseObject({
  name: z.optional(text),
  caseSensitive: z.optional(z.boolean()),
  properties: z.optional(record),
  nodes: z.array(z.looseObject({ id: name, component: name, metadata })),
  edges: z.array(z.looseObject({ from: ModelRef, to: ModelRef, metadata })),
  initials: z.optional(
    z.array(z.looseObject({ to: ModelRef, data: z.unknown(), metadata })),
  ),
  inports: z.optional(z.record(z.string(), z.looseObject({ node: name, port: name, metadata }))),
  outports: z.optional(z.record(z.string(), z.looseObject({ node: name, port: name, metadata }))),
  groups: z.optional(z.array(z.looseObject({ name: text, nodes: z.array(text), metadata }))),
  extra: z.optional(record),
});

const ZealEnd = z.looseObject({ node_id: name, port_id: name });
const ZealWorkflow = z.looseObject({
  id: z.optional(text),
  name: z.optional(text),
  description: z.optional(z.nullable(text)),
  graphs: z.array(z.looseObject({
    name: z.optional(text),
    is_main: z.optional(z.boolean()),
    nodes: z.array(z.looseObject({
      id: name,
      template_id: z.optional(z.nullable(name)),
      node_type: z.optional(z.nullable(name)),
      ports: z.optional(z.array(z.looseObject({ id: name, port_type: z.optional(text) }))),
      property_values: z.optional(z.nullable(record)),
      position: z.optional(z.looseObject({ x: z.number(), y: z.number() })),
    })),
    connections: z.optional(
      z.array(z.looseObject({ from: ZealEnd, to: ZealEnd, metadata })),
    ),
    groups: z.optional(
      z.array(z.looseObject({ id: name, nodes: z.array(text), metadata })),
    ),
  })).check(z.minLength(1)),
  metadata: z.optional(z.nullable(z.looseObject({ author: z.optional(z.nullable(text)) }))),
});

/**
 * Reads a graph in any of the supported forms — Reflow's export (`connections: [{ from: { nodeId,
 * portName | portId }, to }]`), fbp-graph / NoFlo (`[{ src: { process, port }, tgt }]`, `{ data,
 * tgt }` for initial packets), a Zeal workflow (`graphs: [{ is_main, nodes, connections }]`) or
 * the {@link Graph} model — from an object or JSON text, and returns the model. Throws a
 * {@link GraphError} listing every fault with its JSON path. Nothing is checked against actors
 * here: `loadGraph` does that.
 *
 * @example
 * ```ts
 * const graph = parseGraph(await Deno.readTextFile("research.graph.json"));
 * graph.nodes.map((n) => n.id); // ["factual", "statistician", …]
 * ```
 */
export function parseGraph(input: unknown): Graph {
  return readGraph(input).graph;
}

/** {@link parseGraph}, with where each part was in the document (for fault paths). */
export function readGraph(input: unknown): ReadGraph {
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
  const doc = value as Record<string, unknown>;
  if (Array.isArray(doc.graphs)) return readZeal(check(ZealWorkflow, doc));
  if (Array.isArray(doc.nodes) && Array.isArray(doc.edges)) {
    return readModel(check(ModelGraph, doc));
  }
  return readJson(check(JsonGraph, doc));
}

function check<T extends z.ZodMiniType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value, { reportInput: true, error: issueMessage });
  if (!parsed.success) {
    throw new GraphError(parsed.error.issues.map((issue) => ({
      path: "$" + issue.path.map((k) => key(k as string | number)).join(""),
      message: issue.message,
    })));
  }
  return parsed.data;
}

/** The keys of `object` other than `known`, or undefined when there are none. */
function extraOf(
  object: Record<string, unknown>,
  known: readonly string[],
): Record<string, unknown> | undefined {
  let extra: Record<string, unknown> | undefined;
  for (const k in object) {
    if (known.includes(k) || object[k] === undefined) continue;
    (extra ??= {})[k] = object[k];
  }
  return extra;
}

function withExtra<T extends object>(item: T, extra: Record<string, unknown> | undefined): T {
  if (extra) (item as { extra?: unknown }).extra = extra;
  return item;
}

const meta = (m: Record<string, unknown> | null | undefined) => ({ ...(m ?? {}) });

function emptyPaths(): GraphPaths {
  return { nodes: [], edges: [], initials: [], inports: {}, outports: {} };
}

// The Reflow / fbp-graph JSON forms.

type JsonDoc = z.output<typeof JsonGraph>;
type ReflowEndT = z.output<typeof ReflowEnd>;
type FbpEndT = z.output<typeof FbpEnd>;

/** Defaults of Reflow's `GraphEdge` that carry no information, dropped when read. */
function reflowEndExtra(end: Record<string, unknown>, port: string, known: string[]) {
  const extra = extraOf(end, known);
  if (!extra) return undefined;
  if (extra.expose === false) delete extra.expose;
  const type = extra.portType as { type?: unknown } | undefined;
  if (
    typeof type === "object" && type !== null && type.type === "any" &&
    Object.keys(type).length === 1
  ) delete extra.portType;
  // Reflow's GraphEdge also has data/metadata; they mean nothing on an end and are null there.
  if (extra.data === null) delete extra.data;
  if (extra.metadata === null) delete extra.metadata;
  if (extra.portId === port || extra.portId === "" || extra.portId === null) delete extra.portId;
  return Object.keys(extra).length ? extra : undefined;
}

function readJson(doc: JsonDoc): ReadGraph {
  const issues: GraphIssue[] = [];
  const paths = emptyPaths();
  const { name: graphName, ...properties } = doc.properties ?? {};
  const graph: Graph = {
    name: graphName ?? "",
    caseSensitive: doc.caseSensitive ?? false,
    properties,
    nodes: [],
    edges: [],
    initials: [],
    inports: {},
    outports: {},
    groups: [],
    extra: extraOf(doc, [
      "caseSensitive",
      "properties",
      "processes",
      "connections",
      "inports",
      "outports",
      "groups",
    ]) ?? {},
  };
  for (const [id, proc] of Object.entries(doc.processes)) {
    const at = `$.processes${key(id)}`;
    const extra = extraOf(proc, ["component", "metadata"]);
    // Reflow's GraphNode repeats the id inside; it carries nothing when it matches.
    if (extra?.id === id) delete extra.id;
    graph.nodes.push(withExtra(
      { id, component: proc.component, metadata: meta(proc.metadata) },
      extra && Object.keys(extra).length ? extra : undefined,
    ));
    paths.nodes.push({ self: at, component: `${at}.component`, metadata: `${at}.metadata` });
  }

  const reflowRef = (end: ReflowEndT, at: string): [GraphPortRef, RefPaths] | undefined => {
    const byName = typeof end.portName === "string" && end.portName !== "";
    const port = byName ? end.portName! : end.portId ?? "";
    if (typeof end.nodeId !== "string" || end.nodeId === "") {
      issues.push({ path: `${at}.nodeId`, message: "must name a node (nodeId)" });
      return undefined;
    }
    if (port === "") {
      issues.push({
        path: `${at}.portName`,
        message: "must name a port (portName, or portId when portName is empty)",
      });
      return undefined;
    }
    const ref: GraphPortRef = { node: end.nodeId, port };
    if (typeof end.index === "number") ref.index = end.index;
    const extra = reflowEndExtra(end, port, ["nodeId", "portName", "index"]);
    if (extra) ref.extra = extra;
    return [ref, {
      node: `${at}.nodeId`,
      port: `${at}.${byName ? "portName" : "portId"}`,
      index: `${at}.index`,
    }];
  };
  const fbpRef = (end: FbpEndT, at: string): [GraphPortRef, RefPaths] => {
    const ref: GraphPortRef = { node: end.process, port: end.port };
    if (typeof end.index === "number") ref.index = end.index;
    const extra = extraOf(end, ["process", "port", "index"]);
    if (extra) ref.extra = extra;
    return [ref, { node: `${at}.process`, port: `${at}.port`, index: `${at}.index` }];
  };
  /** Reflow's exporter writes IIPs with a `from` whose every field is empty or null. */
  const emptyEnd = (end: ReflowEndT | null | undefined) =>
    end == null || (!end.nodeId && !end.portName && !end.portId);

  (doc.connections ?? []).forEach((c, i) => {
    const at = `$.connections[${i}]`;
    const fbp = c.tgt !== undefined || c.src != null;
    const source = fbp ? c.src : c.from;
    const hasSource = fbp ? source != null : !emptyEnd(c.from);
    // Reflow's serde writes `data: null` on every edge; elsewhere null is an IIP's value (Flow).
    const hasData = c.data !== undefined && !(c.data === null && !fbp && hasSource);
    const sourceKey = fbp ? "src" : "from";
    if (hasSource === hasData) {
      issues.push({
        path: at,
        message: hasData
          ? `has both "${sourceKey}" and "data": an edge or an initial packet, not both`
          : `a connection needs either "${sourceKey}" (an edge) or "data" (an initial packet)`,
      });
      return;
    }
    const target = fbp ? c.tgt : c.to;
    if (target === undefined) {
      issues.push({ path: `${at}.${fbp ? "tgt" : "to"}`, message: "missing (expected an object)" });
      return;
    }
    const to = fbp ? fbpRef(target as FbpEndT, `${at}.tgt`) : reflowRef(target, `${at}.to`);
    const known = ["from", "to", "src", "tgt", "data", "metadata"];
    const extra = extraOf(c, known);
    if (hasData) {
      if (!to) return;
      const iip: GraphInitial = { to: to[0], data: c.data, metadata: meta(c.metadata) };
      // Reflow's all-empty `from` on an IIP is its exporter's way of writing "no source".
      graph.initials.push(withExtra(iip, extra));
      paths.initials.push({ self: at, to: to[1], data: `${at}.data` });
      return;
    }
    const from = fbp
      ? fbpRef(source as FbpEndT, `${at}.src`)
      : reflowRef(source as ReflowEndT, `${at}.from`);
    if (!from || !to) return;
    graph.edges.push(withExtra({ from: from[0], to: to[0], metadata: meta(c.metadata) }, extra));
    paths.edges.push({ self: at, from: from[1], to: to[1], metadata: `${at}.metadata` });
  });

  for (const side of ["inports", "outports"] as const) {
    for (const [pub, end] of Object.entries(doc[side] ?? {})) {
      const at = `$.${side}${key(pub)}`;
      const reflow = end.process === undefined;
      const node = reflow ? end.nodeId : end.process;
      const port = reflow ? (end.portName || end.portId) : end.port;
      if (!node) {
        issues.push({
          path: `${at}.${reflow ? "nodeId" : "process"}`,
          message: "must name a node",
        });
        continue;
      }
      if (!port) {
        issues.push({ path: `${at}.${reflow ? "portName" : "port"}`, message: "must name a port" });
        continue;
      }
      const exported: GraphExportedPort = { node, port, metadata: meta(end.metadata) };
      const extra = reflow
        ? reflowEndExtra(end, port, ["nodeId", "portName", "metadata"])
        : extraOf(end, ["process", "port", "metadata"]);
      graph[side][pub] = withExtra(exported, extra);
      paths[side][pub] = {
        node: `${at}.${reflow ? "nodeId" : "process"}`,
        port: `${at}.${reflow ? (end.portName ? "portName" : "portId") : "port"}`,
      };
    }
  }

  (doc.groups ?? []).forEach((g, i) => {
    const groupName = g.name ?? g.id;
    if (groupName === undefined) {
      issues.push({ path: `$.groups[${i}].name`, message: "missing (expected a string)" });
      return;
    }
    const group: GraphGroup = { name: groupName, nodes: [...g.nodes], metadata: meta(g.metadata) };
    graph.groups.push(withExtra(group, extraOf(g, ["name", "id", "nodes", "metadata"])));
  });
  if (issues.length) throw new GraphError(issues);
  return { graph, paths };
}

// The model itself (a description given back, e.g. from Network.describe()).

function readModel(doc: z.output<typeof ModelGraph>): ReadGraph {
  const ref = (r: z.output<typeof ModelRef>): GraphPortRef => {
    const out: GraphPortRef = { node: r.node, port: r.port };
    if (typeof r.index === "number") out.index = r.index;
    const extra = { ...(r.extra as Record<string, unknown> | undefined) };
    return withExtra(out, Object.keys(extra).length ? extra : undefined);
  };
  const extraField = (item: Record<string, unknown>) => {
    const e = item.extra as Record<string, unknown> | undefined;
    return e && typeof e === "object" && Object.keys(e).length ? { ...e } : undefined;
  };
  const exported = (
    p: { node: string; port: string; metadata?: Record<string, unknown> | null },
  ): GraphExportedPort => ({ node: p.node, port: p.port, metadata: meta(p.metadata) });
  const graph: Graph = {
    name: doc.name ?? "",
    caseSensitive: doc.caseSensitive ?? false,
    properties: { ...doc.properties },
    nodes: doc.nodes.map((n) =>
      withExtra({ id: n.id, component: n.component, metadata: meta(n.metadata) }, extraField(n))
    ),
    edges: doc.edges.map((e) =>
      withExtra({ from: ref(e.from), to: ref(e.to), metadata: meta(e.metadata) }, extraField(e))
    ),
    initials: (doc.initials ?? []).map((i) =>
      withExtra({ to: ref(i.to), data: i.data, metadata: meta(i.metadata) }, extraField(i))
    ),
    inports: Object.fromEntries(
      Object.entries(doc.inports ?? {}).map(([k, p]) => [k, withExtra(exported(p), extraField(p))]),
    ),
    outports: Object.fromEntries(
      Object.entries(doc.outports ?? {}).map((
        [k, p],
      ) => [k, withExtra(exported(p), extraField(p))]),
    ),
    groups: (doc.groups ?? []).map((g) =>
      withExtra({ name: g.name, nodes: [...g.nodes], metadata: meta(g.metadata) }, extraField(g))
    ),
    extra: { ...doc.extra },
  };
  return { graph, paths: modelPaths(graph) };
}

// Zeal workflows, converted with the rules of Reflow's zeal_converter.rs.

function readZeal(doc: z.output<typeof ZealWorkflow>): ReadGraph {
  const issues: GraphIssue[] = [];
  const paths = emptyPaths();
  // The main graph only (is_main, else the first), as the converter does.
  let g = doc.graphs.findIndex((graph) => graph.is_main === true);
  if (g < 0) g = 0;
  const main = doc.graphs[g];
  const at = `$.graphs[${g}]`;
  const properties: Record<string, unknown> = {};
  if (doc.id !== undefined) properties.workflow_id = doc.id;
  if (doc.name !== undefined) properties.workflow_name = doc.name;
  if (doc.description != null) properties.description = doc.description;
  if (doc.metadata?.author != null) properties.author = doc.metadata.author;
  const graph: Graph = {
    name: main.name ?? doc.name ?? "",
    caseSensitive: false,
    properties,
    nodes: [],
    edges: [],
    initials: [],
    inports: {},
    outports: {},
    groups: [],
    extra: {},
  };
  main.nodes.forEach((n, i) => {
    const np = `${at}.nodes[${i}]`;
    const component = n.template_id ?? n.node_type;
    if (component == null) {
      issues.push({
        path: `${np}.node_type`,
        message: "missing: a node needs template_id or node_type",
      });
      return;
    }
    const metadata: Record<string, unknown> = {};
    if (n.position) {
      metadata.x = n.position.x;
      metadata.y = n.position.y;
    }
    for (const k of ["title", "subtitle", "icon", "variant", "shape", "size"]) {
      if (n[k] != null) metadata[k] = n[k];
    }
    if (n.properties !== undefined) metadata.properties = n.properties;
    if (n.property_values != null) metadata.propertyValues = n.property_values;
    if (n.ports !== undefined) metadata.ports = n.ports;
    if (n.required_env_vars != null) metadata.required_env_vars = n.required_env_vars;
    graph.nodes.push({ id: n.id, component, metadata });
    paths.nodes.push({
      self: np,
      component: `${np}.${n.template_id != null ? "template_id" : "node_type"}`,
      metadata: np,
    });
  });
  // Ports are lower-cased as Reflow's case-insensitive graph does when the converter adds them.
  const ref = (end: z.output<typeof ZealEnd>, p: string): [GraphPortRef, RefPaths] => [
    { node: end.node_id, port: end.port_id.toLowerCase() },
    { node: `${p}.node_id`, port: `${p}.port_id`, index: p },
  ];
  const seen = new Set<string>();
  (main.connections ?? []).forEach((c, i) => {
    const cp = `${at}.connections[${i}]`;
    const [from, fromPaths] = ref(c.from, `${cp}.from`);
    const [to, toPaths] = ref(c.to, `${cp}.to`);
    // Reflow's add_connection keeps one edge per node/port pair.
    const pair = JSON.stringify([from.node, from.port, to.node, to.port]);
    if (seen.has(pair)) return;
    seen.add(pair);
    graph.edges.push({ from, to, metadata: meta(c.metadata) });
    paths.edges.push({ self: cp, from: fromPaths, to: toPaths, metadata: `${cp}.metadata` });
  });
  // A node with no incoming connection gets its property values as an initial packet on its
  // first input port.
  main.nodes.forEach((n, i) => {
    const np = `${at}.nodes[${i}]`;
    if ((main.connections ?? []).some((c) => c.to.node_id === n.id)) return;
    const values = n.property_values;
    if (values == null || Object.keys(values).length === 0) return;
    const input = (n.ports ?? []).findIndex((p) => p.port_type === "input");
    if (input < 0) return;
    graph.initials.push({
      to: { node: n.id, port: n.ports![input].id.toLowerCase() },
      data: values,
      metadata: {},
    });
    paths.initials.push({
      self: np,
      to: { node: `${np}.id`, port: `${np}.ports[${input}].id`, index: np },
      data: `${np}.property_values`,
    });
  });
  for (const group of main.groups ?? []) {
    graph.groups.push({ name: group.id, nodes: [...group.nodes], metadata: meta(group.metadata) });
  }
  if (issues.length) throw new GraphError(issues);
  return { graph, paths };
}

/**
 * Finds keys that appear twice in one object of a JSON text: `JSON.parse` keeps the last silently,
 * which would drop a node without a word.
 */
function duplicateKeys(source: string): GraphIssue[] {
  const issues: GraphIssue[] = [];
  // One frame per open object or array; its path is built only when a duplicate is found, and
  // its set of keys only once it has a second key (objects on a deep path mostly hold one).
  interface Frame {
    object: boolean;
    parent: Frame | undefined;
    /** The key (in an object) or index (in an array) this frame sits at in its parent. */
    at: string | number;
    index: number;
    key: string | undefined;
    keys: Set<string> | undefined;
  }
  const pathOf = (frame: Frame | undefined): string => {
    const parts: string[] = [];
    for (let f = frame; f?.parent; f = f.parent) parts.push(key(f.at));
    return "$" + parts.reverse().join("");
  };
  let top: Frame | undefined;
  let expectKey = false;
  for (let i = 0; i < source.length; i++) {
    const ch = source[i];
    if (ch === '"') {
      let j = i + 1;
      let escaped = false;
      while (j < source.length && source[j] !== '"') {
        if (source[j] === "\\") {
          escaped = true;
          j += 2;
        } else j++;
      }
      if (top?.object && expectKey) {
        const k = escaped ? JSON.parse(source.slice(i, j + 1)) as string : source.slice(i + 1, j);
        if (top.key !== undefined) {
          top.keys ??= new Set([top.key]);
          if (top.keys.has(k)) {
            issues.push({ path: `${pathOf(top)}${key(k)}`, message: `duplicate key "${k}"` });
          }
          top.keys.add(k);
        }
        top.key = k;
        expectKey = false;
      }
      i = j;
    } else if (ch === "{" || ch === "[") {
      const at = !top ? "" : top.object ? top.key ?? "" : top.index;
      top = { object: ch === "{", parent: top, at, index: 0, key: undefined, keys: undefined };
      expectKey = ch === "{";
    } else if (ch === "}" || ch === "]") {
      top = top?.parent;
    } else if (ch === ",") {
      if (top?.object) expectKey = true;
      else if (top) top.index++;
    }
  }
  return issues;
}
