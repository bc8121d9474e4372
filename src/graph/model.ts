/**
 * The one in-memory graph description. Every graph format is read into it (Reflow's export and
 * loader shapes, fbp-graph / NoFlo JSON, Zeal workflows, `.fbp` text), `Network.describe()`
 * returns it, and `toGraphJson`, `toMermaid`, `GET /graph` and the page take it. It is plain
 * JSON-compatible data: `JSON.parse(JSON.stringify(graph))` is the same graph.
 *
 * @module
 */

/** One end of an edge: a node's port, with the array-port index when it has one. */
export interface GraphPortRef {
  node: string;
  port: string;
  /** The slot of an addressable (array) port, as `OUT[1]` in `.fbp`. */
  index?: number;
  /** Keys of the source document that this model does not interpret, kept for the round trip. */
  extra?: Record<string, unknown>;
}

/** A process: its id, the component (registered template) it runs, and its metadata. */
export interface GraphNode {
  id: string;
  component: string;
  /** The actor's `ctx.config`; also `x`/`y` (position), `label`, `lit`, `timeoutMs`, `retry`… */
  metadata: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/** A connection from an outport to an inport. Metadata `capacity` sets its capacity. */
export interface GraphEdge {
  from: GraphPortRef;
  to: GraphPortRef;
  metadata: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/**
 * An initial information packet (IIP): `data` exactly as the document wrote it (a wire message
 * `{ type, data }`, or any JSON value, wrapped by `initialMessage` when the network is built).
 */
export interface GraphInitial {
  to: GraphPortRef;
  data: unknown;
  metadata: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/** A port of the graph as a whole (a subgraph's public port), bound to a node's port. */
export interface GraphExportedPort {
  node: string;
  port: string;
  metadata: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/** A named set of nodes (editors draw it as a box). */
export interface GraphGroup {
  name: string;
  nodes: string[];
  metadata: Record<string, unknown>;
  extra?: Record<string, unknown>;
}

/**
 * A graph. Node ids are always compared exactly; `caseSensitive: false` (the default of NoFlo,
 * fbp-graph and Reflow) makes port names match without regard to case.
 *
 * @example
 * ```ts
 * const graph: Graph = {
 *   name: "hello", caseSensitive: false, properties: {},
 *   nodes: [{ id: "up", component: "upper", metadata: { x: 0, y: 0 } }],
 *   edges: [], initials: [{ to: { node: "up", port: "in" }, data: "hi", metadata: {} }],
 *   inports: {}, outports: {}, groups: [], extra: {},
 * };
 * ```
 */
export interface Graph {
  /** `properties.name` in the JSON forms. */
  name: string;
  caseSensitive: boolean;
  /** Every other property (description, environment, icon…). */
  properties: Record<string, unknown>;
  nodes: GraphNode[];
  edges: GraphEdge[];
  initials: GraphInitial[];
  inports: Record<string, GraphExportedPort>;
  outports: Record<string, GraphExportedPort>;
  groups: GraphGroup[];
  /** Top-level keys the model does not interpret (Reflow workspace keys, NoFlo's `exports`…). */
  extra: Record<string, unknown>;
}

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

/** JSON paths of a port reference's fields in the document it was read from. */
export interface RefPaths {
  node: string;
  port: string;
  index: string;
}

/**
 * Where each part of a graph was in its source document, so that a fault names the document's
 * own path (`$.connections[2].to.portName`, `$.graphs[0].nodes[1].template_id`).
 */
export interface GraphPaths {
  nodes: { self: string; component: string; metadata: string }[];
  edges: { self: string; from: RefPaths; to: RefPaths; metadata: string }[];
  initials: { self: string; to: RefPaths; data: string }[];
  inports: Record<string, { node: string; port: string }>;
  outports: Record<string, { node: string; port: string }>;
}

/** A graph read from a document, with where each part was. */
export interface ReadGraph {
  graph: Graph;
  paths: GraphPaths;
}

/** The paths of a graph given as the model itself. */
export function modelPaths(graph: Graph): GraphPaths {
  const ref = (at: string): RefPaths => ({
    node: `${at}.node`,
    port: `${at}.port`,
    index: `${at}.index`,
  });
  const exported = (side: "inports" | "outports") =>
    Object.fromEntries(
      Object.keys(graph[side]).map((k) => {
        const at = `$.${side}${key(k)}`;
        return [k, { node: `${at}.node`, port: `${at}.port` }];
      }),
    );
  return {
    nodes: graph.nodes.map((_, i) => ({
      self: `$.nodes[${i}]`,
      component: `$.nodes[${i}].component`,
      metadata: `$.nodes[${i}].metadata`,
    })),
    edges: graph.edges.map((_, i) => ({
      self: `$.edges[${i}]`,
      from: ref(`$.edges[${i}].from`),
      to: ref(`$.edges[${i}].to`),
      metadata: `$.edges[${i}].metadata`,
    })),
    initials: graph.initials.map((_, i) => ({
      self: `$.initials[${i}]`,
      to: ref(`$.initials[${i}].to`),
      data: `$.initials[${i}].data`,
    })),
    inports: exported("inports"),
    outports: exported("outports"),
  };
}

/** A key as a JSON path segment: `.name`, or `["odd key"]` when it is not an identifier. */
export function key(k: string | number): string {
  if (typeof k === "number") return `[${k}]`;
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}
