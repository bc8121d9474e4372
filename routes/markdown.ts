/**
 * The page's Markdown renderer, as browser source (inserted into the page's script): the agents'
 * bullets, numbered lists, emphasis, inline code, code blocks, quotes, headings and links. It
 * builds DOM nodes (`createElement`, `textContent`), never an HTML string, so nothing in the
 * model's words can become markup: raw HTML shows as text; a link is a link only to an absolute
 * `http:`, `https:` or `mailto:` URL (as parsed by `URL`, so `JaVaScRiPt:` or `java\tscript:`
 * stay text) and opens with `rel="noopener noreferrer nofollow"`; images are never loaded (a
 * model could put a tracking URL there): they show as a link named `image: <alt>`.
 *
 * Hand-written rather than a library because the page ships inside the Worker with no build
 * step: marked + DOMPurify or micromark would add 15–30 KB gzip to it, and still produce HTML
 * strings that have to be sanitized, where this produces no HTML at all.
 *
 * `renderMarkdown(text, doc)` returns a DocumentFragment. Written with `String.raw`, so the
 * regular expressions read as they run; it must not contain a dollar-brace sequence.
 *
 * @module
 */
export const MARKDOWN_SCRIPT = String.raw`
function renderMarkdown(text, doc) {
  const root = doc.createDocumentFragment();
  const add = (parent, tag) => parent.appendChild(doc.createElement(tag));
  const safeUrl = (raw) => {
    try {
      const url = new URL(raw);
      return ["http:", "https:", "mailto:"].includes(url.protocol) ? url.href : null;
    } catch { return null; }
  };
  const inline = (parent, s) => {
    const re = /(\x60+)([^\x60]+?)\1|\*\*(.+?)\*\*|__(.+?)__|\*([^*\s](?:[^*]*[^*\s])?)\*|(?:^|(?<=\W))_([^_\s](?:[^_]*[^_\s])?)_(?=\W|$)|(!?)\[([^\]]*)\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g;
    let last = 0;
    for (const m of s.matchAll(re)) {
      if (m.index > last) parent.appendChild(doc.createTextNode(s.slice(last, m.index)));
      last = m.index + m[0].length;
      if (m[2] !== undefined) add(parent, "code").textContent = m[2];
      else if (m[3] !== undefined || m[4] !== undefined) inline(add(parent, "strong"), m[3] ?? m[4]);
      else if (m[5] !== undefined || m[6] !== undefined) inline(add(parent, "em"), m[5] ?? m[6]);
      else {
        const image = m[7] === "!";
        const label = image ? "image: " + (m[8] || m[9]) : m[8];
        const href = safeUrl(m[9]);
        if (!href) { parent.appendChild(doc.createTextNode(image ? "[" + label + "]" : label)); continue; }
        const a = add(parent, "a");
        a.href = href;
        a.rel = "noopener noreferrer nofollow";
        a.target = "_blank";
        if (image) a.textContent = label;
        else inline(a, label);
      }
    }
    if (last < s.length) parent.appendChild(doc.createTextNode(s.slice(last)));
  };
  let para = null, list = null, quote = null, code = null;
  const close = () => { para = null; list = null; quote = null; };
  for (const line of text.replace(/\r\n?/g, "\n").split("\n")) {
    let m;
    if (code) {
      if (/^\s*\x60\x60\x60/.test(line)) code = null;
      else code.textContent += (code.textContent ? "\n" : "") + line;
      continue;
    }
    if (/^\s*\x60\x60\x60/.test(line)) { close(); code = add(add(root, "pre"), "code"); continue; }
    if (!line.trim()) { close(); continue; }
    if ((m = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line))) {
      close();
      inline(add(root, "h" + Math.min(6, m[1].length + 2)), m[2]);
    } else if ((m = /^\s{0,3}>\s?(.*)$/.exec(line))) {
      para = null; list = null;
      if (!quote) quote = add(add(root, "blockquote"), "p");
      else quote.appendChild(doc.createElement("br"));
      inline(quote, m[1]);
    } else if ((m = /^\s{0,3}([-*+•]|\d{1,9}[.)])\s+(.*)$/.exec(line))) {
      para = null; quote = null;
      const ordered = /\d/.test(m[1]);
      if (!list || list.ordered !== ordered) list = { el: add(root, ordered ? "ol" : "ul"), ordered };
      inline(add(list.el, "li"), m[2]);
    } else if (list && /^\s{2,}\S/.test(line)) {
      const item = list.el.lastElementChild;
      item.appendChild(doc.createTextNode(" "));
      inline(item, line.trim());
    } else {
      list = null; quote = null;
      if (!para) para = add(root, "p");
      else para.appendChild(doc.createElement("br"));
      inline(para, line);
    }
  }
  return root;
}
`;
