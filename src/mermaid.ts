import type { Graph, GraphPortRef } from "./graph/model.ts";

/**
 * Draws a graph as a Mermaid `flowchart` in the style of Reflow's docs: initial packets as rounded
 * nodes named after their port, edges labelled with the outport (and its index, `out[1]`).
 *
 * @example
 * ```ts
 * toMermaid(net.describe()); // or toMermaid(parseGraph(json))
 * // flowchart LR
 * //   topic([topic])
 * //   topic --> factual[factual]
 * //   factual -->|finding| synth[synth]
 * ```
 */
export function toMermaid(graph: Graph, direction: "LR" | "TD" = "LR"): string {
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
  for (const { to: { port } } of graph.initials) {
    if (!sources.has(port)) {
      const id = idOf(`iip:${port}`);
      sources.set(port, id);
      lines.push(`  ${id}([${label(port)}])`);
    }
  }
  const fed = new Set<string>();
  for (const { to: { node: target, port } } of graph.initials) {
    // Several packets to one port draw as one edge: the diagram shows wiring, not traffic.
    const key = `${port}\n${target}`;
    if (fed.has(key)) continue;
    fed.add(key);
    lines.push(`  ${sources.get(port)} --> ${node(target)}`);
  }
  for (const e of graph.edges) {
    lines.push(`  ${node(e.from.node)} -->|${label(portLabel(e.from))}| ${node(e.to.node)}`);
  }
  for (const { id } of graph.nodes) if (!drawn.has(id)) lines.push(`  ${node(id)}`);
  return lines.join("\n") + "\n";
}

function portLabel(ref: GraphPortRef): string {
  return ref.index === undefined ? ref.port : `${ref.port}[${ref.index}]`;
}

/** Quotes a label when Mermaid would read its characters as syntax. */
function label(text: string): string {
  return /^[A-Za-z0-9_ .-]+$/.test(text) ? text : `"${text.replace(/"/g, "#quot;")}"`;
}
