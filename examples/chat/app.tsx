/** @jsxImportSource react */
/**
 * The research flow in a React chat: `useChat` from `@ai-sdk/react`, pointed at reflow-edge's
 * `POST /chat`, streams the four agents into one assistant message, one text part per agent.
 * Run it with `npx tsx examples/chat/serve.ts` (it bundles this file and serves the app).
 */
import { useChat } from "@ai-sdk/react";
import { DefaultChatTransport, type UIMessage } from "ai";
import { useState } from "react";
import { createRoot } from "react-dom/client";

/** The agent a part comes from: reflow-edge puts `{ role, node }` in its provider metadata. */
const roleOf = (part: UIMessage["parts"][number]) =>
  (part as { providerMetadata?: { reflow?: { role?: string } } }).providerMetadata?.reflow?.role;

function App() {
  const { messages, sendMessage, status, stop, error } = useChat({
    transport: new DefaultChatTransport({ api: "/chat" }), // or "http://localhost:8787/chat"
  });
  const [topic, setTopic] = useState("the history of zero");
  const busy = status === "submitted" || status === "streaming";
  return (
    <main>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          sendMessage({ text: topic });
        }}
      >
        <input id="topic" value={topic} onChange={(e) => setTopic(e.target.value)} />
        {/* Distinct keys: reusing one <button> would let Stop's click submit the form. */}
        {busy
          ? <button key="stop" id="stop" type="button" onClick={() => stop()}>Stop</button>
          : <button key="send" id="send" type="submit">Research</button>}
        <output id="status">{status}</output>
      </form>
      {error && <p id="error" role="alert">{error.message}</p>}
      {messages.map((message) => (
        <article key={message.id} className={message.role}>
          {message.parts.map((part, i) =>
            part.type === "text" && (
              <section key={i} data-role={roleOf(part) ?? message.role}>
                <h2>{roleOf(part) ?? message.role}</h2>
                <p>{part.text}</p>
              </section>
            )
          )}
        </article>
      ))}
    </main>
  );
}

createRoot(document.getElementById("root")!).render(<App />);
