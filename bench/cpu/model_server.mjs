/**
 * `bench:cpu --latency`'s model: an OpenAI-compatible streaming server in its own process, so that
 * its event loop is not the client's. It answers each chat-completions request with the recorded
 * chunks of its role (by system prompt): the first after 100–300 ms, then one every 15–35 ms (a
 * small local model's pace), from a seeded random source so that runs pace alike. For the
 * specialists of flow `#n` (the topic names it) it notes when it wrote the first token's first
 * byte, on the system-wide monotonic clock (`process.hrtime`), which the client reads too.
 * `GET /first-bytes` answers those times as `{ "n": "<ns>" }`.
 *
 * `node bench/cpu/model_server.mjs <recording.json>` prints `listening <port>`.
 */
import http from "node:http";
import { readFileSync } from "node:fs";

const recording = JSON.parse(readFileSync(process.argv[2], "utf8"));
const PHRASES = {
  facts: "factual researcher",
  stats: "statistician",
  quotes: "quote librarian",
  answer: "senior writer",
};

let seed = 14;
function rand() {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const firstByte = new Map();
const server = http.createServer((req, res) => {
  if (req.url === "/first-bytes") {
    res.writeHead(200, { "content-type": "application/json" });
    return void res.end(JSON.stringify(Object.fromEntries(firstByte)));
  }
  let body = "";
  req.setEncoding("utf8");
  req.on("data", (d) => (body += d));
  req.on("end", () => {
    const role = Object.keys(PHRASES).find((r) => body.includes(PHRASES[r]));
    if (!role) return void res.writeHead(400).end("no role");
    const flow = role === "answer" ? undefined : /#(\d+)/.exec(body)?.[1];
    const chunks = recording[role];
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8" });
    let i = 0;
    let timer;
    const next = () => {
      if (res.destroyed) return;
      if (i === 0 && flow !== undefined && !firstByte.has(flow)) {
        firstByte.set(flow, String(process.hrtime.bigint()));
      }
      res.write(chunks[i++]);
      if (i === chunks.length) return void res.end();
      timer = setTimeout(next, 15 + rand() * 20);
    };
    timer = setTimeout(next, 100 + rand() * 200);
    res.on("close", () => clearTimeout(timer));
  });
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
