/**
 * Graphs: the one model ({@link Graph}), reading every supported document into it, building a
 * network from it, and writing it as Reflow's JSON.
 *
 * @module
 */
export {
  type Graph,
  type GraphEdge,
  GraphError,
  type GraphExportedPort,
  type GraphGroup,
  type GraphInitial,
  type GraphIssue,
  type GraphNode,
  type GraphPortRef,
} from "./graph/model.ts";
export { parseGraph, readGraph } from "./graph/read.ts";
export { initialMessage, loadGraph } from "./graph/load.ts";
export { type ReflowEnd, type ReflowGraphJson, toGraphJson } from "./graph/write.ts";
