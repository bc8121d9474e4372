/**
 * The body `useChat` sends (the `ai` package's `HttpChatTransport.sendMessages`, v7.0.173:
 * `{ ...body, id, messages, trigger, messageId }`, each message `{ id, role, parts, metadata? }`),
 * checked with zod/mini. The research topic is the text of the last user message; the history
 * before it is not sent to the agents.
 *
 * @module
 */
import * as z from "zod/mini";
import { check } from "../src/schema.ts";
import { modelOption, policyOption, reasoningOption } from "./options.ts";

/** What `POST /chat` researches, read from a chat request. */
export interface ChatRequest {
  /** The chat's id (`id` in the body). */
  chatId: string;
  /** The last user message's text, trimmed. */
  topic: string;
  /** Extra body fields (`useChat`'s `body` option), as on `POST /research`. */
  model?: string;
  policy?: "fail-fast" | "continue";
  /** `false`: no reasoning parts in the answer (routes/options.ts). */
  reasoning?: boolean;
}

/** One problem with a request, as a 400's `issues` lists it. */
export interface ChatIssue {
  path: string;
  message: string;
}

const part = z.looseObject({
  type: z.string({ error: "a message part needs a string type" }),
  text: z.optional(z.string({ error: "a text part's text must be a string" })),
});

const message = z.looseObject({
  role: z.enum(["system", "user", "assistant"], {
    error: "a message's role must be system, user or assistant",
  }),
  parts: z.array(part, { error: "a message's parts must be an array" }),
});

const body = z.looseObject({
  id: z.string({ error: "id (the chat id) must be a string" }),
  messages: z.array(message, { error: "messages must be an array of UI messages" }),
  trigger: z.optional(
    z.enum(["submit-message", "regenerate-message"], {
      error: "trigger must be submit-message or regenerate-message",
    }),
  ),
  model: modelOption,
  policy: policyOption,
  reasoning: reasoningOption,
});

/**
 * Reads a chat request: the last user message's text parts, joined, are the topic.
 *
 * @example
 * ```ts
 * parseChatRequest({ id: "c1", messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "zero" }] }] }, 500);
 * // { ok: true, value: { chatId: "c1", topic: "zero" } }
 * ```
 */
export function parseChatRequest(
  value: unknown,
  maxTopicLength: number,
): { ok: true; value: ChatRequest } | { ok: false; issues: ChatIssue[] } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, issues: [{ path: "", message: "the body must be a JSON object" }] };
  }
  const parsed = check(body, value);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({ path: i.path.join("."), message: i.message })),
    };
  }
  const { id, messages, model, policy, reasoning } = parsed.data;
  const index = messages.findLastIndex((m) => m.role === "user");
  if (index < 0) {
    return { ok: false, issues: [{ path: "messages", message: "there is no user message" }] };
  }
  const path = `messages.${index}.parts`;
  const topic = messages[index].parts
    .filter((p) => p.type === "text" && typeof p.text === "string")
    .map((p) => p.text)
    .join("\n")
    .trim();
  if (topic === "") {
    return { ok: false, issues: [{ path, message: "the last user message has no text" }] };
  }
  if (topic.length > maxTopicLength) {
    return {
      ok: false,
      issues: [{ path, message: `the topic must be at most ${maxTopicLength} characters` }],
    };
  }
  return {
    ok: true,
    value: {
      chatId: id,
      topic,
      ...(model === undefined ? {} : { model }),
      ...(policy === undefined ? {} : { policy }),
      ...(reasoning === undefined ? {} : { reasoning }),
    },
  };
}
