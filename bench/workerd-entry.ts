/** A Worker that runs the core benchmark inside workerd and answers with its result as JSON. */
import { runCoreBench } from "./lib.ts";

export default {
  async fetch(): Promise<Response> {
    const lines: string[] = [];
    const result = await runCoreBench((line) => lines.push(line));
    return Response.json({ result, lines });
  },
};
