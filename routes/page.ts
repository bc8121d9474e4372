/**
 * The live page served at `GET /`: one HTML document, no build step. It POSTs to /research, reads
 * the Server-Sent Events with a stream reader, fills the four role panels as tokens arrive and
 * lights the graph's nodes while they run. What the model says is rendered as Markdown built from
 * DOM nodes (routes/markdown.ts), so none of it can become markup or script.
 *
 * @module
 */

import type { Graph } from "../src/graph/model.ts";
import { MARKDOWN_SCRIPT } from "./markdown.ts";

const W = 120;
const H = 36;
const PAD = 14;

/**
 * Where each node is drawn: its metadata `x`/`y` (as Zeal, NoFlo and Flowhub store them) when
 * every node has them, else a layered layout (a node one layer right of everything feeding it).
 */
export function layout(graph: Graph): Map<string, { x: number; y: number }> {
  const at = new Map<string, { x: number; y: number }>();
  const placed = graph.nodes.every((n) =>
    typeof n.metadata.x === "number" && Number.isFinite(n.metadata.x) &&
    typeof n.metadata.y === "number" && Number.isFinite(n.metadata.y)
  );
  if (placed) {
    for (const n of graph.nodes) {
      at.set(n.id, { x: n.metadata.x as number, y: n.metadata.y as number });
    }
    return at;
  }
  // Edges that close a cycle (found depth-first from the sources) are left out of the layering;
  // every other edge points one or more columns right: the longest path from a source.
  const outs = new Map<string, { to: string; edge: number }[]>();
  graph.edges.forEach((e, i) => {
    if (!outs.has(e.from.node)) outs.set(e.from.node, []);
    outs.get(e.from.node)!.push({ to: e.to.node, edge: i });
  });
  const state = new Map<string, "open" | "done">();
  const back = new Set<number>();
  const visit = (id: string) => {
    state.set(id, "open");
    for (const { to, edge } of outs.get(id) ?? []) {
      if (state.get(to) === "open") back.add(edge);
      else if (!state.has(to)) visit(to);
    }
    state.set(id, "done");
  };
  const fed = new Set(graph.edges.map((e) => e.to.node));
  for (const n of graph.nodes) if (!fed.has(n.id) && !state.has(n.id)) visit(n.id);
  for (const n of graph.nodes) if (!state.has(n.id)) visit(n.id);
  const layer = new Map(graph.nodes.map((n) => [n.id, 0]));
  for (let round = 0; round < graph.nodes.length; round++) {
    let moved = false;
    graph.edges.forEach((e, i) => {
      if (back.has(i) || e.from.node === e.to.node) return;
      const next = (layer.get(e.from.node) ?? 0) + 1;
      if (next > (layer.get(e.to.node) ?? 0)) {
        layer.set(e.to.node, next);
        moved = true;
      }
    });
    if (!moved) break;
  }
  const rows = new Map<number, number>();
  for (const n of graph.nodes) {
    const l = layer.get(n.id) ?? 0;
    const row = rows.get(l) ?? 0;
    rows.set(l, row + 1);
    at.set(n.id, { x: PAD + l * (W + 100), y: PAD + row * (H + 24) });
  }
  return at;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The graph as an inline SVG: one box per node (`id="node-<id>"`), one curve per connection. */
export function graphSvg(graph: Graph): string {
  const at = layout(graph);
  const xs = [...at.values()].map((p) => p.x);
  const ys = [...at.values()].map((p) => p.y);
  const minX = Math.min(0, ...xs) - PAD;
  const minY = Math.min(0, ...ys) - PAD;
  const width = Math.max(...xs, 0) + W + PAD - minX;
  const height = Math.max(...ys, 0) + H + PAD - minY;
  const edges = graph.edges.map((e) => {
    const a = at.get(e.from.node);
    const b = at.get(e.to.node);
    if (!a || !b) return "";
    const x1 = a.x + W;
    const y1 = a.y + H / 2;
    const x2 = b.x;
    const y2 = b.y + H / 2;
    const mx = (x1 + x2) / 2;
    return `<path class="edge" d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}"/>`;
  }).join("");
  const nodes = graph.nodes.map((n) => {
    const p = at.get(n.id)!;
    const label = String(n.metadata.label ?? n.metadata.title ?? n.id);
    return `<g class="node" id="node-${
      escape(n.id)
    }" data-state="idle"><rect x="${p.x}" y="${p.y}" width="${W}" height="${H}" rx="8"/>` +
      `<text x="${p.x + W / 2}" y="${p.y + H / 2 + 5}">${escape(label)}</text></g>`;
  }).join("");
  return `<svg id="graph" viewBox="${minX} ${minY} ${width} ${height}" role="img" aria-label="${
    escape(graph.name || "flow")
  } graph">` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8a94a6"/></marker></defs>` +
    `${edges}${nodes}</svg>`;
}

const SCRIPT = `
${MARKDOWN_SCRIPT}
const $ = (id) => document.getElementById(id);
const roles = ["facts", "stats", "quotes", "answer"];
let running = null;

function setStatus(text) { $("status").textContent = text; }
function showError(text) {
  const box = $("error");
  box.textContent = text;
  box.hidden = !text;
}
function setNode(id, state) {
  const node = $("node-" + id);
  if (node) node.setAttribute("data-state", state);
}
// Each panel's text so far, rendered as Markdown (DOM nodes, never HTML) once per frame.
const texts = new Map();
const dirty = new Set();
function render() {
  for (const role of dirty) {
    const body = $("panel-" + role).querySelector(".body");
    const follow = body.scrollTop + body.clientHeight >= body.scrollHeight - 4;
    body.replaceChildren(renderMarkdown(texts.get(role) ?? "", document));
    if (follow) body.scrollTop = body.scrollHeight;
  }
  dirty.clear();
}
function reset() {
  texts.clear();
  for (const role of roles) {
    const panel = $("panel-" + role);
    panel.querySelector(".body").textContent = "";
    panel.classList.remove("live");
    const thoughts = panel.querySelector(".reasoning");
    thoughts.hidden = true;
    thoughts.open = false;
    thoughts.querySelector(".thoughts").textContent = "";
    panel.querySelector(".stopped").hidden = true;
    panel.querySelector(".usage").textContent = "";
  }
  $("usage").textContent = "";
  for (const node of document.querySelectorAll(".node")) node.setAttribute("data-state", "idle");
  showError("");
}
function append(role, text) {
  const panel = $("panel-" + role);
  if (!panel) return;
  texts.set(role, (texts.get(role) ?? "") + text);
  if (dirty.size === 0) requestAnimationFrame(render);
  dirty.add(role);
  for (const other of roles) $("panel-" + other).classList.toggle("live", other === role);
}
// An agent's reasoning: plain text, dimmed, in a collapsible box under its panel's answer.
function think(role, text) {
  const panel = $("panel-" + role);
  if (!panel) return;
  const box = panel.querySelector(".reasoning");
  if (box.hidden) { box.hidden = false; box.open = true; }
  box.querySelector(".thoughts").append(text);
}
const STOPS = { length: "cut at the token limit", content_filter: "stopped by the server's content filter" };
function finished(role, reason) {
  const panel = $("panel-" + role);
  const box = panel && panel.querySelector(".reasoning");
  if (box && !box.hidden) box.open = false; // the answer is what matters now
  if (!panel || !STOPS[reason]) return;
  const mark = panel.querySelector(".stopped");
  mark.textContent = STOPS[reason] + " (" + reason + ")";
  mark.hidden = false;
}
function tokens(u) {
  return u.totalTokens.toLocaleString("en-US") + " tokens (" + u.inputTokens.toLocaleString("en-US") +
    " in, " + u.outputTokens.toLocaleString("en-US") + " out" +
    (u.reasoningTokens ? ", " + u.reasoningTokens.toLocaleString("en-US") + " reasoning" : "") + ")";
}
function used(data) {
  if (data.scope === "flow") { $("usage").textContent = "This run used " + tokens(data.usage) + "."; return; }
  const panel = $("panel-" + data.role);
  if (panel) panel.querySelector(".usage").textContent = tokens(data.usage);
}
function handle(event, data) {
  // Anything but a token shows the panels as they are now, not a frame later.
  if (event !== "chunk" && dirty.size) render();
  if (event === "chunk") append(data.role, data.text);
  else if (event === "reasoning") think(data.role, data.text);
  else if (event === "finish") finished(data.role, data.finishReason);
  else if (event === "usage") used(data);
  else if (event === "node") setNode(data.id, data.state);
  else if (event === "answer") setStatus("answer ready");
  else if (event === "error") { showError(data.message); setStatus("failed"); }
  else if (event === "done") setStatus("done");
}
// One run at a time: its id, the last event id seen, how to stop reading it.
function parseFrame(frame, run) {
  let event = "message";
  const data = [];
  for (const line of frame.split("\\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    else if (line.startsWith("id:")) run.last = line.slice(3).trim();
  }
  if (data.length) handle(event, JSON.parse(data.join("\\n")));
  // A shared run names its topic in its first frame.
  if (event === "run" && data.length && !$("topic").value) {
    $("topic").value = JSON.parse(data.join("\\n")).topic || "";
  }
  if (event === "done" || event === "error") run.ended = true;
}
function authHeaders() {
  const token = $("token").value.trim();
  return token ? { "Authorization": "Bearer " + token } : {};
}
async function failure(res) {
  let message = "HTTP " + res.status;
  try { message = (await res.json()).error || message; } catch {}
  return message;
}
// Reads a run's event stream; resolves when it ends or the connection drops.
async function follow(res, run) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value.replace(/\\r\\n?/g, "\\n");
      let end;
      while ((end = buffer.indexOf("\\n\\n")) >= 0) {
        parseFrame(buffer.slice(0, end), run);
        buffer = buffer.slice(end + 2);
      }
    }
  } catch (error) {
    if (run.controller.signal.aborted) throw error;
  }
}
// Follows run.id to its end: after a drop, reconnects with Last-Event-ID (no gap, no duplicate).
async function watchRun(run, first) {
  let res = first;
  for (let attempt = 0; ; ) {
    if (res) {
      if (res.status === 204) { showError("This run is no longer available (unknown or expired)."); setStatus("gone"); return; }
      if (!res.ok) { showError(await failure(res)); setStatus("failed"); return; }
      attempt = 0;
      setStatus("streaming…");
      await follow(res, run);
      if (run.ended) return;
    }
    if (++attempt > 30) { showError("Connection lost."); setStatus("failed"); return; }
    setStatus("reconnecting…");
    await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
    run.controller.signal.throwIfAborted();
    try { res = await openEvents(run); } catch (e) {
      run.controller.signal.throwIfAborted();
      res = null;
    }
  }
}
// The run's events after the last one seen (all of them at first).
function openEvents(run) {
  const headers = { "Accept": "text/event-stream", ...authHeaders() };
  if (run.last) headers["Last-Event-ID"] = run.last;
  const url = "runs/" + run.id + "/events" + (run.token ? "?token=" + encodeURIComponent(run.token) : "");
  return fetch(url, { headers, signal: run.controller.signal });
}
async function showShare(run) {
  let query = "?run=" + run.id;
  if ($("token").value.trim()) {
    try {
      const res = await fetch("runs/" + run.id + "/token", { method: "POST", headers: authHeaders() });
      if (res.ok) query += "&token=" + encodeURIComponent((await res.json()).token);
    } catch {}
  }
  const link = $("share");
  link.href = location.pathname + query;
  link.hidden = false;
}
async function begin(run, request) {
  reset();
  running = run;
  $("go").textContent = "Stop";
  $("go").classList.add("stop");
  setStatus("starting…");
  try {
    await watchRun(run, await request());
    if (run.ended && $("status").textContent === "streaming…") setStatus("ended");
  } catch (error) {
    if (run.controller.signal.aborted) setStatus("stopped");
    else { showError("Connection failed: " + (error && error.message || error)); setStatus("failed"); }
  } finally {
    if (running === run) running = null;
    $("go").textContent = "Start";
    $("go").classList.remove("stop");
    for (const node of document.querySelectorAll('.node[data-state="running"]')) {
      node.setAttribute("data-state", run.controller.signal.aborted ? "idle" : "done");
    }
    for (const role of roles) $("panel-" + role).classList.remove("live");
  }
}
function start() {
  const topic = $("topic").value.trim();
  if (!topic) { showError("Type a topic first."); return; }
  $("share").hidden = true;
  const run = { id: null, last: null, ended: false, controller: new AbortController() };
  return begin(run, async () => {
    const res = await fetch("runs", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream", ...authHeaders() },
      body: JSON.stringify({ topic }), signal: run.controller.signal,
    });
    if (res.ok) {
      run.id = (res.headers.get("Location") || "").split("/").pop();
      showShare(run);
    }
    return res;
  });
}
function stop(run) {
  run.controller.abort(new DOMException("stopped by the user", "AbortError"));
  // Leaving is not stopping: a run goes on without viewers until it is cancelled.
  if (run.id && !run.ended) {
    fetch("runs/" + run.id + "/cancel", { method: "POST", headers: authHeaders() }).catch(() => {});
  }
}
// A shared link (?run=<id>[&token=…]) opens that run, live.
const shared = new URLSearchParams(location.search);
if (/^[0-9a-f-]{36}$/.test(shared.get("run") || "")) {
  const run = { id: shared.get("run"), token: shared.get("token"), last: null, ended: false, controller: new AbortController() };
  setStatus("watching…");
  begin(run, () => openEvents(run));
}
$("show-reasoning").addEventListener("change", (e) => {
  document.body.classList.toggle("no-reasoning", !e.target.checked);
});
$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (running) stop(running);
  else start();
});
`;

/** The page's HTML, drawing `graph` (the research graph that GET /graph serves). */
export const pageHtml = (graph: Graph): string =>
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reflow-edge research</title>
<style>
  :root { --bg: #f6f7fb; --card: #fff; --ink: #1d2433; --muted: #667085; --line: #dde2ec;
    --accent: #3b6ef5; --run: #f5a524; --ok: #17a34a; --bad: #dc2626; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    background: var(--bg); color: var(--ink); }
  main { max-width: 1100px; margin: 0 auto; padding: 24px 20px 40px; }
  h1 { font-size: 22px; margin: 0 0 4px; }
  .sub { color: var(--muted); margin: 0 0 18px; }
  form { display: flex; gap: 10px; flex-wrap: wrap; align-items: center; }
  input { font: inherit; padding: 9px 12px; border: 1px solid var(--line); border-radius: 8px;
    background: #fff; }
  #topic { flex: 1 1 360px; }
  #token { flex: 0 1 200px; }
  button { font: inherit; font-weight: 600; padding: 9px 22px; border: 0; border-radius: 8px;
    background: var(--accent); color: #fff; cursor: pointer; min-width: 90px; }
  button.stop { background: var(--bad); }
  #status { color: var(--muted); font-size: 13px; min-width: 90px; }
  #share { font-size: 13px; color: var(--accent); }
  #error { margin: 12px 0 0; padding: 10px 14px; border-radius: 8px; background: #fde8e8;
    color: #8a1c1c; border: 1px solid #f5c2c2; white-space: pre-wrap; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 12px; }
  #graph-card { margin: 18px 0; padding: 10px 14px; }
  #graph { width: 100%; max-height: 200px; display: block; }
  .edge { fill: none; stroke: #b7bfcd; stroke-width: 1.5; marker-end: url(#arrow); }
  .node rect { fill: #eef1f7; stroke: #b7bfcd; stroke-width: 1.5; transition: fill .15s, stroke .15s; }
  .node text { text-anchor: middle; font-size: 14px; fill: var(--ink); }
  .node[data-state="running"] rect { fill: #fff3d6; stroke: var(--run); stroke-width: 2.5; }
  .node[data-state="done"] rect { fill: #e3f6e9; stroke: var(--ok); }
  .node[data-state="failed"] rect { fill: #fde8e8; stroke: var(--bad); }
  .panels { display: grid; grid-template-columns: repeat(3, 1fr); gap: 14px; }
  .panel { display: flex; flex-direction: column; min-height: 220px; }
  .panel h2 { margin: 0; padding: 10px 14px; font-size: 13px; text-transform: uppercase;
    letter-spacing: .06em; color: var(--muted); border-bottom: 1px solid var(--line); }
  .panel.live h2 { color: var(--run); }
  .panel .body { padding: 12px 14px; overflow-wrap: anywhere;
    overflow-y: auto; max-height: 320px; flex: 1; }
  #panel-answer { grid-column: 1 / -1; }
  #panel-answer .body { max-height: none; }
  .body > :first-child { margin-top: 0; } .body > :last-child { margin-bottom: 0; }
  .body p, .body ul, .body ol, .body blockquote, .body pre { margin: 0 0 .6em; }
  .body ul, .body ol { padding-left: 1.3em; }
  .body blockquote { border-left: 3px solid var(--line); padding-left: .8em; color: var(--muted); }
  .body h3, .body h4, .body h5, .body h6 { font-size: 1em; margin: 0 0 .4em; }
  .body code { font: .9em ui-monospace, SFMono-Regular, Menlo, monospace; background: #eef1f7;
    border-radius: 4px; padding: 0 .25em; }
  .body pre { white-space: pre-wrap; background: #eef1f7; border-radius: 6px; padding: .5em .7em; }
  .body pre code { background: none; padding: 0; }
  .panel .reasoning { margin: 0 14px 10px; color: var(--muted); font-size: 13px; opacity: .75; }
  .panel .reasoning summary { cursor: pointer; user-select: none; }
  .panel .reasoning .thoughts { white-space: pre-wrap; font-style: italic; max-height: 160px;
    overflow-y: auto; border-left: 2px solid var(--line); padding-left: .7em; margin-top: .3em; }
  .no-reasoning .panel .reasoning { display: none; }
  .panel .stopped { margin: 0 14px 8px; color: #9a5b00; font-size: 13px; }
  .panel .stopped::before { content: "⚠ "; }
  .panel .usage { margin: 0 14px 10px; color: var(--muted); font-size: 12px; }
  .panel .usage:empty { display: none; }
  #usage { color: var(--muted); font-size: 13px; margin: 10px 0 0; }
  #usage:empty { display: none; }
  label.option { color: var(--muted); font-size: 13px; display: flex; gap: 4px; align-items: center; }
  @media (max-width: 800px) { .panels { grid-template-columns: 1fr; } }
</style>
</head>
<body>
<main>
  <h1>reflow-edge research</h1>
  <p class="sub">Three specialist agents run in parallel, a synthesizer combines them; every token streams live.</p>
  <form id="form">
    <input id="topic" name="topic" placeholder="a topic, e.g. the history of zero" autocomplete="off" required>
    <input id="token" name="token" type="password" placeholder="token (if required)" autocomplete="off">
    <button id="go" type="submit">Start</button>
    <span id="status" role="status">idle</span>
    <a id="share" href="#" target="_blank" rel="noopener" hidden>share this run</a>
    <label class="option"><input id="show-reasoning" type="checkbox" checked> show reasoning</label>
  </form>
  <div id="error" role="alert" hidden></div>
  <div id="graph-card" class="card">${graphSvg(graph)}</div>
  <div class="panels">
${
    [["facts", "Facts"], ["stats", "Stats"], ["quotes", "Quotes"], ["answer", "Answer"]].map((
      [role, title],
    ) =>
      `    <section class="card panel" id="panel-${role}"><h2>${title}</h2><div class="body"></div>` +
      `<p class="stopped" role="note" hidden></p>` +
      `<details class="reasoning" hidden><summary>reasoning</summary><div class="thoughts"></div></details>` +
      `<p class="usage"></p></section>`
    ).join("\n")
  }
  </div>
  <p id="usage"></p>
</main>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
