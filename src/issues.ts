/**
 * zod's issues in our own words: what was expected and what was there. zod's default wording
 * ("Invalid input: expected string, received undefined") never reaches a user; every schema that
 * checks input from outside parses with `{ error: issueMessage, reportInput: true }`.
 *
 * @module
 */
import type * as z from "zod/mini";

/** One issue as a short phrase that follows its JSON path: `expected a string, got 7`. */
export function issueMessage(issue: z.core.$ZodRawIssue): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case "invalid_type": {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return input === undefined
        ? `missing (expected ${expected})`
        : `expected ${expected}, got ${kind(input)}`;
    }
    case "too_small":
      if (issue.origin === "string") return "must not be empty";
      if (issue.origin === "array") return `must hold at least ${issue.minimum} item(s)`;
      return `must be ≥ ${issue.minimum}, got ${kind(input)}`;
    case "too_big":
      return `must be ≤ ${issue.maximum}, got ${kind(input)}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, got ${
        kind(input)
      }`;
    case "invalid_union": {
      const options = (issue as { options?: unknown[] }).options;
      if (Array.isArray(options) && options.length) {
        return `expected one of ${options.map((o) => JSON.stringify(o)).join(", ")}, got ${
          kind(input)
        }`;
      }
      return `matches none of the accepted shapes (got ${kind(input)})`;
    }
    case "invalid_format":
      return `must be ${issue.format}, got ${kind(input)}`;
    default:
      return `invalid value (got ${kind(input)})`;
  }
}

const EXPECTED: Record<string, string> = {
  string: "a string",
  object: "an object",
  record: "an object",
  array: "an array",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  nonoptional: "a value",
};

/** A short rendering of a value for a fault message. */
export function kind(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number") return `the number ${value}`;
  if (typeof value === "string") {
    return value.length > 40 ? "a string" : `the string ${JSON.stringify(value)}`;
  }
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}
