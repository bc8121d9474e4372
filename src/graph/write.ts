import type { Graph, GraphPortRef } from "./model.ts";

/**
 * One end of a connection as Reflow's `Graph::load` reads it (offbit-ai/reflow
 * `crates/reflow_graph/src/types.rs`, `GraphEdge`): every field it requires is present.
 */
export interface ReflowEnd {
  portName: string;
  portId: string;
  nodeId: string;
  index?: number;
  expose: boolean;
  portType: unknown;
  [key: string]: unknown;
}

/** Reflow's `GraphExport`, as written by {@link toGraphJson}. */
export interface ReflowGraphJson {
  caseSensitive: boolean;
  properties: { name: string; [key: string]: unknown };
  processes: Record<string, { id: string; component: string; metadata: Record<string, unknown> }>;
  connections: {
    from: ReflowEnd;
    to: ReflowEnd;
    metadata: Record<string, unknown>;
    data?: unknown;
    [key: string]: unknown;
  }[];
  inports: Record<string, ReflowEnd>;
  outports: Record<string, ReflowEnd>;
  groups: { id: string; nodes: string[]; metadata: Record<string, unknown> }[];
  [key: string]: unknown;
}

const ANY = { type: "any" };

function end(ref: GraphPortRef): ReflowEnd {
  const out: ReflowEnd = {
    portName: ref.port,
    portId: ref.port,
    nodeId: ref.node,
    expose: false,
    portType: ANY,
    ...ref.extra,
  };
  if (ref.index !== undefined) out.index = ref.index;
  return out;
}

/** Reflow's exporter writes an IIP's `from` as an all-empty edge; its loader requires one. */
const NO_SOURCE: ReflowEnd = { portName: "", portId: "", nodeId: "", expose: false, portType: ANY };

/**
 * Writes a graph in the form Reflow's `Graph::load` accepts (every `GraphEdge` field it requires:
 * `portName`, `portId`, `nodeId`, `expose`, `portType`; `processes.*.id`; `properties.name`; an
 * initial packet as a connection with `data` and an all-empty `from`). {@link parseGraph} and
 * `loadGraph` read it back to the same graph: nothing is lost, keys we do not interpret included.
 *
 * @example
 * ```ts
 * const json = toGraphJson(net.describe());
 * await Deno.writeTextFile("flow.graph.json", JSON.stringify(json, null, 2));
 * ```
 */
export function toGraphJson(graph: Graph): ReflowGraphJson {
  const processes: ReflowGraphJson["processes"] = {};
  for (const n of graph.nodes) {
    processes[n.id] = { id: n.id, component: n.component, metadata: { ...n.metadata }, ...n.extra };
  }
  const connections: ReflowGraphJson["connections"] = [];
  for (const e of graph.edges) {
    connections.push({ from: end(e.from), to: end(e.to), metadata: { ...e.metadata }, ...e.extra });
  }
  for (const i of graph.initials) {
    connections.push({
      from: { ...NO_SOURCE },
      to: end(i.to),
      data: i.data,
      metadata: { ...i.metadata },
      ...i.extra,
    });
  }
  const exported = (side: "inports" | "outports") => {
    const out: Record<string, ReflowEnd> = {};
    for (const [pub, p] of Object.entries(graph[side])) {
      out[pub] = {
        ...end({ node: p.node, port: p.port, extra: p.extra }),
        metadata: { ...p.metadata },
      };
    }
    return out;
  };
  return {
    ...graph.extra,
    caseSensitive: graph.caseSensitive,
    properties: { ...graph.properties, name: graph.name },
    processes,
    connections,
    inports: exported("inports"),
    outports: exported("outports"),
    groups: graph.groups.map((g) => ({
      id: g.name,
      nodes: [...g.nodes],
      metadata: { ...g.metadata },
      ...g.extra,
    })),
  };
}
