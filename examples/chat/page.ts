/**
 * Builds the `useChat` example page (examples/chat/app.tsx) with esbuild, and serves it next to
 * reflow-edge's app: `/` is the page, `/app.js` its bundle, everything else the app (`/chat`…).
 * Nothing is fetched from outside: React and the AI SDK are bundled in.
 *
 * @module
 */
import * as esbuild from "esbuild";

/** The page's HTML and its bundled script. */
export interface ChatPage {
  html: string;
  js: string;
}

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>reflow-edge · useChat</title>
<link rel="icon" href="data:,">
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem; max-width: 72rem; }
  form { display: flex; gap: .5rem; margin-bottom: 1rem; }
  input { flex: 1; padding: .4rem; }
  article.assistant { display: grid; grid-template-columns: repeat(3, 1fr); gap: .75rem; }
  article.user h2 { display: none; }
  section { border: 1px solid #ccc; border-radius: 6px; padding: .5rem .75rem; white-space: pre-wrap; }
  section[data-role="answer"] { grid-column: 1 / -1; background: #f6f8ff; }
  h2 { font-size: .8rem; text-transform: uppercase; color: #555; margin: 0; }
  #error { color: #b00020; }
</style>
</head>
<body>
<div id="root"></div>
<script type="module" src="/app.js"></script>
</body>
</html>
`;

/** Bundles the page (minified, production React). */
export async function buildChatPage(): Promise<ChatPage> {
  const result = await esbuild.build({
    entryPoints: [new URL("./app.tsx", import.meta.url).pathname],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    target: "es2022",
    jsx: "automatic",
    minify: true,
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "silent",
  });
  return { html: HTML, js: result.outputFiles[0].text };
}

/** A fetch handler: the page at `/` and `/app.js`, the app for every other path. */
export function withChatPage(
  app: { fetch(request: Request): Response | Promise<Response> },
  page: ChatPage,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method === "GET" && pathname === "/") {
      return new Response(page.html, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (request.method === "GET" && pathname === "/app.js") {
      return new Response(page.js, {
        headers: { "content-type": "text/javascript; charset=utf-8" },
      });
    }
    return await app.fetch(request);
  };
}
