/**
 * The wiring rules' wording, in one place: the network, the nodes and the graph loader all say
 * the same thing about the same mistake.
 *
 * @module
 */

/** `has no inport "input" (inports: in)`, to follow `node "b" `. */
export function portFault(
  _node: string,
  direction: "inport" | "outport",
  port: string,
  ports: readonly string[],
): string {
  return `has no ${direction} "${port}" (${direction}s: ${ports.join(", ") || "none"})`;
}

/** An array-port index: a whole number ≥ 0. */
export function indexFault(index: unknown): string | undefined {
  if (index === undefined) return undefined;
  return Number.isSafeInteger(index) && (index as number) >= 0
    ? undefined
    : `index must be a whole number ≥ 0, got ${String(index)}`;
}

/** A connection's capacity: a whole number ≥ 1. */
export function capacityFault(capacity: unknown): string | undefined {
  return Number.isSafeInteger(capacity) && (capacity as number) >= 1
    ? undefined
    : `capacity must be a whole number ≥ 1, got ${String(capacity)}`;
}

/** Finds `port` among `ports`: exactly, or (when the graph is not case-sensitive) in any case. */
export function findPort(
  ports: readonly string[],
  port: string,
  caseSensitive: boolean,
): string | undefined {
  if (ports.includes(port)) return port;
  if (caseSensitive) return undefined;
  const wanted = port.toLowerCase();
  return ports.find((p) => p.toLowerCase() === wanted);
}
