// Chat: pick a model (or "auto" with a model_quality) and a provider, stream the reply as
// Markdown, stop it, and see which provider, model and how many attempts served it. The
// conversation stays in this browser (localStorage: it holds no key).

import { ApiError, client, clientHeaders, errorOf, gatewayKey, url } from "./api.js";
import { clear, field, h, notice, say, select } from "./dom.js";
import { count, ms } from "./format.js";
import { show as showMarkdown } from "./markdown.js";
import { events } from "./sse.js";

const SAVED = "llm-agg.conversation";
const OPTIONS = "llm-agg.chat-options";
const KEEP = 200; // messages kept in the browser
const QUALITIES = [
  ["", "Server default"],
  ["fastest", "Fastest"],
  ["balanced", "Balanced"],
  ["best_quality", "Best quality"],
];
const RENDER_EVERY = 50; // ms between re-renders of a streaming reply

let ui = null;
let models = [];
let messages = loadConversation();
let streaming = null; // the AbortController of the reply being streamed

function loadConversation() {
  try {
    const saved = JSON.parse(localStorage.getItem(SAVED) || "[]");
    return Array.isArray(saved) ? saved.filter((m) => m && typeof m.content === "string") : [];
  } catch {
    return [];
  }
}

function saveConversation() {
  messages = messages.slice(-KEEP);
  localStorage.setItem(SAVED, JSON.stringify(messages));
}

function saveOptions() {
  const { model, provider, quality } = ui;
  localStorage.setItem(OPTIONS, JSON.stringify({ model: model.value, provider: provider.value, quality: quality.value }));
}

export function mount(section) {
  const saved = JSON.parse(localStorage.getItem(OPTIONS) || "{}");
  ui = {
    model: select([["auto", "auto"]], "auto"),
    provider: select([["", "Any provider"]], ""),
    quality: select(QUALITIES, saved.quality || ""),
    transcript: h("div", { class: "transcript", role: "log", "aria-label": "Conversation", "aria-live": "off" }),
    input: h("textarea", { rows: 3, placeholder: "Ask something… (Enter sends, Shift+Enter is a new line)", required: true }),
    send: h("button", { type: "submit" }, "Send"),
    stop: h("button", { type: "button", class: "danger", disabled: true }, "Stop"),
    status: notice("info"),
    announce: h("p", { class: "visually-hidden", role: "status" }),
    keyForm: keyForm(),
    saved,
  };
  ui.status.hidden = true;
  const toolbar = h(
    "form",
    { class: "toolbar", "aria-label": "Chat options", on: { submit: (e) => e.preventDefault() } },
    field("Model", ui.model),
    field("Provider", ui.provider),
    field("Quality (for auto)", ui.quality),
    h("button", { type: "button", class: "quiet", on: { click: newChat } }, "New chat"),
  );
  const composer = h(
    "form",
    { class: "composer", "aria-label": "New message", on: { submit: onSubmit } },
    field("Message", ui.input),
    h("div", { class: "actions" }, ui.send, ui.stop),
  );
  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
    if (event.key === "Escape" && streaming) streaming.abort();
  });
  ui.stop.addEventListener("click", () => streaming?.abort());
  ui.provider.addEventListener("change", () => {
    fillModels();
    saveOptions();
  });
  ui.model.addEventListener("change", () => {
    syncQuality();
    saveOptions();
  });
  ui.quality.addEventListener("change", saveOptions);
  section.append(h("div", { class: "chat" }, toolbar, ui.keyForm, ui.status, ui.transcript, composer, ui.announce));
  for (const message of messages) ui.transcript.append(messageView(message));
  if (!messages.length) ui.transcript.append(emptyNote());
  loadModels();
}

export function show() {
  ui.input.focus({ preventScroll: true });
  scrollDown(true);
}

function emptyNote() {
  return h("p", { class: "empty" }, "Ask anything: “auto” routes each message to the best free model available now.");
}

// --- models and providers ----------------------------------------------------------------

async function loadModels() {
  try {
    const listing = await client("/v1/models");
    models = listing.data.filter((m) => m.id !== "auto");
    ui.keyForm.hidden = true;
    say(ui.status, "info");
  } catch (error) {
    models = [];
    if (error.status === 401) askForGatewayKey(error.message);
    else say(ui.status, "error", `The models could not be listed: ${error.message}`);
  }
  const providers = [...new Set(models.map((m) => m.owned_by))].sort();
  const chosen = ui.provider.value || ui.saved.provider || "";
  clear(ui.provider, h("option", { value: "" }, "Any provider"), providers.map((p) => h("option", { value: p }, p)));
  ui.provider.value = providers.includes(chosen) ? chosen : "";
  fillModels(ui.model.value !== "auto" ? ui.model.value : ui.saved.model);
}

function fillModels(wanted = ui.model.value) {
  const provider = ui.provider.value;
  const shown = models.filter((m) => !provider || m.owned_by === provider);
  clear(ui.model, h("option", { value: "auto" }, "auto"), shown.map((m) => h("option", { value: m.id }, m.id)));
  ui.model.value = shown.some((m) => m.id === wanted) ? wanted : "auto";
  syncQuality();
}

function syncQuality() {
  ui.quality.disabled = ui.model.value !== "auto";
}

function keyForm() {
  const input = h("input", { type: "password", autocomplete: "off", spellcheck: "false", required: true });
  const message = h("p", { class: "hint" });
  const form = h(
    "form",
    {
      class: "card",
      hidden: true,
      "aria-label": "Gateway key",
      on: {
        submit: (event) => {
          event.preventDefault();
          gatewayKey.set(input.value.trim());
          input.value = "";
          loadModels();
        },
      },
    },
    message,
    field("Gateway key", input, "sk-llmagg-…, made in Settings; kept in this tab only."),
    h("button", { type: "submit" }, "Use this key"),
  );
  form.message = message;
  return form;
}

function askForGatewayKey(reason) {
  gatewayKey.clear();
  ui.keyForm.message.textContent = `This gateway needs a gateway key: ${reason}`;
  ui.keyForm.hidden = false;
}

// --- the conversation --------------------------------------------------------------------

function newChat() {
  streaming?.abort();
  messages = [];
  saveConversation();
  clear(ui.transcript, emptyNote());
  ui.input.focus();
}

function messageView(message) {
  const body = h("div", { class: "body" });
  const meta = h("footer", { class: "meta" });
  const view = h(
    "article",
    { class: `msg ${message.role}`, dataset: { role: message.role } },
    h("h2", { class: "who" }, message.role === "user" ? "You" : "Assistant"),
    body,
    meta,
  );
  view.parts = { body, meta, reasoning: null };
  paint(view, message);
  return view;
}

function paint(view, message) {
  const { body, meta } = view.parts;
  if (message.role === "user") {
    body.textContent = message.content;
  } else {
    if (message.reasoning) {
      view.parts.reasoning ||= h("details", { class: "reasoning" }, h("summary", {}, "Reasoning"), h("div", { class: "text" }));
      view.parts.reasoning.lastChild.textContent = message.reasoning;
      if (!view.parts.reasoning.isConnected) body.before(view.parts.reasoning);
    }
    showMarkdown(body, message.content);
  }
  view.dataset.state = message.meta?.state || "done";
  clear(meta, metaParts(message.meta || {}));
}

function metaParts(info) {
  const parts = [];
  const item = (name, text) => h("span", { dataset: { field: name } }, text);
  if (info.provider) parts.push(item("provider", info.provider));
  if (info.model) parts.push(item("model", info.model));
  if (info.attempts) parts.push(item("attempts", `${info.attempts} attempt${info.attempts === "1" ? "" : "s"}`));
  if (info.usage) parts.push(item("tokens", `${count(info.usage.prompt_tokens)} → ${count(info.usage.completion_tokens)} tokens`));
  if (info.ms) parts.push(item("time", ms(info.ms)));
  if (info.state === "streaming") parts.push(item("state", "answering…"));
  if (info.state === "stopped") parts.push(item("state", "stopped"));
  if (info.error) parts.push(h("span", { class: "error", role: "alert", dataset: { field: "error" } }, info.error));
  return parts;
}

function history() {
  return messages
    .filter((m) => m.content && !m.meta?.error)
    .map((m) => ({ role: m.role, content: m.content }));
}

function scrollDown(force = false) {
  const t = ui.transcript;
  if (force || t.scrollHeight - t.scrollTop - t.clientHeight < 120) t.scrollTop = t.scrollHeight;
}

function onSubmit(event) {
  event.preventDefault();
  const text = ui.input.value.trim();
  if (!text || streaming) return;
  ui.input.value = "";
  send(text);
}

function request() {
  const body = { model: ui.model.value, messages: history(), stream: true, stream_options: { include_usage: true } };
  if (ui.provider.value) body.provider = ui.provider.value;
  if (ui.model.value === "auto" && ui.quality.value) body.model_quality = ui.quality.value;
  return body;
}

async function send(text) {
  ui.transcript.querySelector(".empty")?.remove();
  const question = { role: "user", content: text };
  messages.push(question);
  ui.transcript.append(messageView(question));
  const body = request();
  const reply = { role: "assistant", content: "", reasoning: "", meta: { state: "streaming" } };
  messages.push(reply);
  const view = messageView(reply);
  ui.transcript.append(view);
  scrollDown(true);

  const controller = new AbortController();
  streaming = controller;
  ui.send.disabled = true;
  ui.stop.disabled = false;
  ui.announce.textContent = "Answering…";
  const started = performance.now();
  let timer = null;
  const repaint = () => {
    timer = null;
    paint(view, reply);
    scrollDown();
  };
  try {
    const response = await fetch(url("/v1/chat/completions"), {
      method: "POST",
      headers: clientHeaders(),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    const served = response.headers;
    Object.assign(reply.meta, {
      provider: served.get("x-llm-agg-provider"),
      model: served.get("x-llm-agg-model"),
      attempts: served.get("x-llm-agg-attempts"),
    });
    if (!response.ok) throw await errorOf(response);
    for await (const event of events(response)) {
      const delta = event.choices?.[0]?.delta;
      reply.content += delta?.content || "";
      reply.reasoning += delta?.reasoning_content || delta?.reasoning || "";
      if (event.usage) reply.meta.usage = event.usage;
      timer ??= setTimeout(repaint, RENDER_EVERY);
    }
    reply.meta.state = "done";
  } catch (error) {
    if (error.name === "AbortError") {
      reply.meta.state = "stopped";
    } else {
      reply.meta.state = "error";
      reply.meta.error = error instanceof ApiError || error instanceof Error ? error.message : String(error);
      if (error.status === 401) askForGatewayKey(error.message);
    }
  } finally {
    clearTimeout(timer);
    reply.meta.ms = Math.round(performance.now() - started);
    paint(view, reply);
    scrollDown();
    streaming = null;
    ui.send.disabled = false;
    ui.stop.disabled = true;
    const who = [reply.meta.provider, reply.meta.model].filter(Boolean).join("/");
    ui.announce.textContent = reply.meta.error ? `Failed: ${reply.meta.error}` : `Reply ${reply.meta.state}${who ? ` from ${who}` : ""}.`;
    saveConversation();
  }
}
