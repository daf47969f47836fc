// Building the page from data, never from HTML strings: text goes in as text nodes, so
// nothing a server or a model sends is ever parsed as markup here (markdown.js is the one
// place that renders HTML, after DOMPurify).

let ids = 0;

// h("button", {class: "x", type: "button", on: {click}}, "Label", child, [more])
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (name === "class") {
      el.className = value;
    } else if (name === "dataset") {
      Object.assign(el.dataset, value);
    } else if (name in el && typeof value !== "string") {
      el[name] = value; // properties such as checked, disabled, value, hidden
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// A unique id for label/for and aria-describedby pairs.
export function uid(prefix) {
  ids += 1;
  return `${prefix}-${ids}`;
}

// A labelled form control: <div class="field"><label for=…>text</label>control hint</div>
export function field(labelText, control, hint) {
  control.id ||= uid("f");
  const parts = [h("label", { for: control.id }, labelText), control];
  if (hint) {
    const note = h("small", { id: uid("hint"), class: "hint" }, hint);
    control.setAttribute("aria-describedby", note.id);
    parts.push(note);
  }
  return h("div", { class: "field" }, parts);
}

export function select(options, value) {
  const el = h("select");
  for (const option of options) {
    const [val, label] = Array.isArray(option) ? option : [option, option];
    el.append(h("option", { value: val }, label));
  }
  if (value !== undefined) el.value = value;
  return el;
}

// A status line that screen readers announce when its text changes.
export function notice(kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" });
}

export function say(el, kind, ...text) {
  el.className = `notice ${kind}`;
  el.setAttribute("role", kind === "error" ? "alert" : "status");
  clear(el, ...text);
  el.hidden = text.length === 0;
}

// A table with a caption, header cells with scope, and cells from arrays.
export function table(caption, headers, rows, { className = "", hiddenCaption = false } = {}) {
  return h(
    "div",
    { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
    h(
      "table",
      { class: className },
      h("caption", { class: hiddenCaption ? "visually-hidden" : "" }, caption),
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows.map((cells) => (cells instanceof Node ? cells : h("tr", {}, cells.map(cell))))),
    ),
  );
}

function cell(value) {
  return value instanceof Node && value.tagName === "TD" ? value : h("td", {}, value);
}
