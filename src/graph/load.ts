import type { ActorTemplate } from "../actor.ts";
import { describe, NetworkError, type WiringField } from "../errors.ts";
import { type Message, messageFromWire } from "../message.ts";
import { Network, type NetworkOptions } from "../network.ts";
import { findPort, portFault } from "../wiring.ts";
import { GraphError, type GraphIssue, type RefPaths } from "./model.ts";
import { readGraph } from "./read.ts";

/**
 * Builds a network from a graph — a {@link Graph} (e.g. `net.describe()`), or any document
 * {@link parseGraph} reads, as an object or JSON text — and checks every component, node, port,
 * index, capacity and initial packet against the registered actors first. All faults come at
 * once in a {@link GraphError}, each with its JSON path in the document. Connection metadata
 * `capacity` sets that connection's capacity.
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
  const { graph, paths } = readGraph(input);
  const { name, caseSensitive, properties, inports, outports, groups, extra } = graph;
  const net = new Network({
    ...options,
    graph: { name, caseSensitive, properties, inports, outports, groups, extra },
  });
  for (const [template, actor] of Object.entries(actors)) net.registerActor(template, actor);
  const issues: GraphIssue[] = [];
  const registered = Object.keys(actors);
  const declared = new Set(graph.nodes.map((n) => n.id));

  graph.nodes.forEach((node, i) => {
    const at = paths.nodes[i];
    if (!Object.hasOwn(actors, node.component)) {
      issues.push({
        path: at.component,
        message: `unknown component "${node.component}" (registered: ${
          registered.join(", ") || "none"
        })`,
      });
      return;
    }
    try {
      net.addNode(node.id, node.component, node.metadata);
    } catch (error) {
      issues.push(fault(error, { id: at.self, metadata: at.metadata }, at.self));
    }
  });

  /** The port as the actor declares it (ports match in any case unless the graph says not). */
  const resolve = (node: string, port: string, side: "inports" | "outports") => {
    const ports = net.ports(node)?.[side];
    return (ports && findPort(ports, port, caseSensitive)) ?? port;
  };
  /** A node the graph declares but that could not be added: its fault is reported already. */
  const failed = (node: string) => declared.has(node) && net.ports(node) === undefined;

  graph.edges.forEach((edge, i) => {
    const at = paths.edges[i];
    if (failed(edge.from.node) || failed(edge.to.node)) return;
    const capacity = edge.metadata.capacity;
    try {
      net.addConnection(
        edge.from.node,
        resolve(edge.from.node, edge.from.port, "outports"),
        edge.to.node,
        resolve(edge.to.node, edge.to.port, "inports"),
        {
          capacity: capacity as number | undefined,
          metadata: edge.metadata,
          fromIndex: edge.from.index,
          toIndex: edge.to.index,
          extra: { edge: edge.extra, from: edge.from.extra, to: edge.to.extra },
        },
      );
    } catch (error) {
      issues.push(fault(error, {
        from: at.from.node,
        outport: at.from.port,
        fromIndex: at.from.index,
        to: at.to.node,
        inport: at.to.port,
        toIndex: at.to.index,
        capacity: `${at.metadata}.capacity`,
      }, at.self));
    }
  });

  graph.initials.forEach((iip, i) => {
    const at = paths.initials[i];
    if (failed(iip.to.node)) return;
    let message: Message;
    try {
      message = initialMessage(iip.data);
    } catch (error) {
      issues.push({ path: at.data, message: describe(error) });
      return;
    }
    try {
      net.addInitial(iip.to.node, resolve(iip.to.node, iip.to.port, "inports"), message, {
        index: iip.to.index,
        metadata: iip.metadata,
        data: iip.data,
        extra: { initial: iip.extra, to: iip.to.extra },
      });
    } catch (error) {
      const to: RefPaths = at.to;
      issues.push(fault(error, { node: to.node, port: to.port, index: to.index }, at.self));
    }
  });

  for (const side of ["inports", "outports"] as const) {
    for (const [pub, exported] of Object.entries(graph[side])) {
      const at = paths[side][pub];
      const ports = net.ports(exported.node);
      if (ports === undefined) {
        if (!failed(exported.node)) {
          issues.push({
            path: at.node,
            message: `unknown node "${exported.node}" (nodes: ${
              graph.nodes.map((n) => n.id).join(", ") || "none"
            })`,
          });
        }
        continue;
      }
      if (findPort(ports[side], exported.port, caseSensitive) === undefined) {
        const direction = side === "inports" ? "inport" : "outport";
        issues.push({
          path: at.port,
          message: `node "${exported.node}" ${
            portFault(exported.node, direction, exported.port, ports[side])
          }`,
        });
      }
    }
  }
  if (issues.length) throw new GraphError(issues);
  return net;
}

/** A wiring error as a graph fault at the path of the argument it is about. */
function fault(
  error: unknown,
  where: Partial<Record<WiringField, string>>,
  fallback: string,
): GraphIssue {
  if (error instanceof NetworkError && error.detail !== undefined) {
    return { path: (error.field && where[error.field]) ?? fallback, message: error.detail };
  }
  return { path: fallback, message: describe(error) };
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
      return messageFromWire({ type: "String", data });
    case "number":
      return messageFromWire(
        Number.isSafeInteger(data) ? { type: "Integer", data } : { type: "Float", data },
      );
    case "boolean":
      return messageFromWire({ type: "Boolean", data });
    case "undefined":
      return messageFromWire({ type: "Flow" });
  }
  if (data === null) return messageFromWire({ type: "Flow" });
  return messageFromWire({ type: Array.isArray(data) ? "Array" : "Object", data }, "data");
}
