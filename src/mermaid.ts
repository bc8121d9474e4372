import { parseGraph } from "./graph.ts";
import type { Network } from "./network.ts";

interface View {
  nodes: string[];
  edges: { from: string; outport: string; to: string }[];
  initials: { node: string; port: string }[];
}

/**
 * Draws a network, or a graph JSON, as a Mermaid `flowchart` in the style of Reflow's docs:
 * initial packets as rounded nodes named after their port, edges labelled with the outport.
 *
 * @example
 * ```ts
 * toMermaid(net);
 * // flowchart LR
 * //   topic([topic])
 * //   topic --> factual[factual]
 * //   factual -->|finding| synth[synth]
 * ```
 */
export function toMermaid(source: Network | unknown, direction: "LR" | "TD" = "LR"): string {
  const view = isNetwork(source) ? networkView(source) : graphView(source);
  const ids = new Map<string, string>();
  const used = new Set<string>();
  const idOf = (name: string) => {
    let id = ids.get(name);
    if (id === undefined) {
      const base = name.replace(/[^A-Za-z0-9_]/g, "_") || "node";
      id = base;
      for (let n = 2; used.has(id) || /^(end|subgraph|graph|flowchart)$/i.test(id); n++) {
        id = `${base}_${n}`;
      }
      used.add(id);
      ids.set(name, id);
    }
    return id;
  };
  const lines = [`flowchart ${direction}`];
  const drawn = new Set<string>();
  const node = (name: string) => {
    const id = idOf(name);
    if (drawn.has(name)) return id;
    drawn.add(name);
    return `${id}[${label(name)}]`;
  };
  const sources = new Map<string, string>();
  for (const { port } of view.initials) {
    if (!sources.has(port)) {
      const id = idOf(`iip:${port}`);
      sources.set(port, id);
      lines.push(`  ${id}([${label(port)}])`);
    }
  }
  const fed = new Set<string>();
  for (const { node: target, port } of view.initials) {
    // Several packets to one port draw as one edge: the diagram shows wiring, not traffic.
    const key = `${port}\n${target}`;
    if (fed.has(key)) continue;
    fed.add(key);
    lines.push(`  ${sources.get(port)} --> ${node(target)}`);
  }
  for (const e of view.edges) {
    lines.push(`  ${node(e.from)} -->|${label(e.outport)}| ${node(e.to)}`);
  }
  for (const name of view.nodes) if (!drawn.has(name)) lines.push(`  ${node(name)}`);
  return lines.join("\n") + "\n";
}

function isNetwork(value: unknown): value is Network {
  return typeof (value as Network)?.describeNodes === "function";
}

function networkView(net: Network): View {
  return {
    nodes: net.describeNodes().map((n) => n.id),
    edges: net.describeConnections().map((c) => ({ from: c.from, outport: c.outport, to: c.to })),
    initials: net.describeInitials().map((i) => ({ node: i.node, port: i.port })),
  };
}

function graphView(graph: unknown): View {
  const spec = parseGraph(graph);
  return {
    nodes: Object.keys(spec.processes),
    edges: spec.connections.map((c) => ({
      from: c.from.node,
      outport: c.from.port,
      to: c.to.node,
    })),
    initials: spec.initials.map((i) => ({ node: i.to.node, port: i.to.port })),
  };
}

/** Quotes a label when Mermaid would read its characters as syntax. */
function label(text: string): string {
  return /^[A-Za-z0-9_ .-]+$/.test(text) ? text : `"${text.replace(/"/g, "#quot;")}"`;
}
