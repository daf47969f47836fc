// Settings: provider accounts (add with a live key check, enable/disable, remove, check
// again), gateway keys (create — shown once — and revoke) and the routing in effect.

import { admin } from "./api.js";
import { clear, field, h, notice, say, select, table } from "./dom.js";
import { count, moment } from "./format.js";
import { Gate } from "./gate.js";
import { copyText } from "./markdown.js";

let gate = null;
let ui = null;

export function mount(section) {
  gate = new Gate(section, { onOpen: loadAll });
  ui = { accounts: h("div"), keys: h("div"), routing: h("div") };
  gate.content.append(accountsSection(), keysSection(), routingSection());
}

export function show() {
  gate.show();
}

export function hide() {
  gate.hide();
}

function loadAll() {
  loadAccounts();
  loadKeys();
  loadRouting();
}

function section(title, ...children) {
  const heading = h("h2", {}, title);
  heading.id = `settings-${title.toLowerCase().replace(/\W+/g, "-")}`;
  return h("section", { class: "card", "aria-labelledby": heading.id }, heading, ...children);
}

// A button that asks "sure?" by changing its own label once, instead of a modal dialog.
function confirming(label, question, action) {
  const button = h("button", { type: "button", class: "danger small" }, label);
  let armed = false;
  button.addEventListener("click", () => {
    if (!armed) {
      armed = true;
      button.textContent = question;
      setTimeout(() => {
        armed = false;
        button.textContent = label;
      }, 4000);
      return;
    }
    action(button);
  });
  button.addEventListener("blur", () => {
    armed = false;
    button.textContent = label;
  });
  return button;
}

// --- provider accounts ---------------------------------------------------------------------

function accountsSection() {
  ui.accountStatus = notice("info");
  ui.accountStatus.hidden = true;
  ui.provider = select([]);
  ui.accountId = h("input", { type: "text", autocomplete: "off", spellcheck: "false", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9._@+\\-]{0,127}", value: "default" });
  ui.apiKey = h("input", { type: "password", autocomplete: "off", spellcheck: "false", required: true, minlength: 8 });
  ui.headers = h("textarea", { rows: 2, spellcheck: "false", placeholder: "HTTP-Referer: https://example.com" });
  ui.verify = h("input", { type: "checkbox", checked: true, id: "settings-verify" });
  ui.enabled = h("input", { type: "checkbox", checked: true, id: "settings-enabled" });
  const form = h(
    "form",
    { class: "grid-form", "aria-label": "Add a provider account", on: { submit: addAccount } },
    h("h3", {}, "Add an account"),
    field("Provider", ui.provider),
    field("Account name", ui.accountId, "Letters, digits, . _ - (up to 64)."),
    field("API key", ui.apiKey, "Sent once, stored encrypted, then only shown masked."),
    field("Extra headers (optional)", ui.headers, "One “Name: value” per line."),
    h("div", { class: "check" }, ui.verify, h("label", { for: ui.verify.id }, "Check the key with the provider first (stored only if it works)")),
    h("div", { class: "check" }, ui.enabled, h("label", { for: ui.enabled.id }, "Enabled")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Add account")),
  );
  return section("Provider accounts", ui.accountStatus, ui.accounts, form);
}

function parseHeaders(text) {
  const headers = {};
  for (const line of text.split("\n").map((l) => l.trim()).filter(Boolean)) {
    const at = line.indexOf(":");
    if (at < 1) throw new Error(`“${line.slice(0, 40)}” is not “Name: value”.`);
    headers[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return headers;
}

async function addAccount(event) {
  event.preventDefault();
  let headers;
  try {
    headers = parseHeaders(ui.headers.value);
  } catch (error) {
    say(ui.accountStatus, "error", `Extra headers: ${error.message}`);
    return;
  }
  const body = {
    provider: ui.provider.value,
    account_id: ui.accountId.value.trim(),
    api_key: ui.apiKey.value.trim(),
    additional_headers: headers,
    enabled: ui.enabled.checked,
    verify: ui.verify.checked,
  };
  const button = event.submitter;
  if (button) button.disabled = true;
  say(ui.accountStatus, "info", body.verify ? `Checking the key with ${body.provider}…` : "Storing…");
  try {
    const added = await admin("/admin/credentials", { method: "POST", body });
    ui.apiKey.value = ""; // typed once: from here on only the masked form is shown
    ui.headers.value = "";
    const check = added.verification ? `${added.verification.message}. ` : "Not checked. ";
    say(ui.accountStatus, "ok", `${check}${added.replaced ? "Replaced" : "Added"} ${added.provider}/${added.account_id} (${added.key}).`);
    loadAccounts();
  } catch (error) {
    if (!error.refused) say(ui.accountStatus, "error", error.message);
  } finally {
    if (button) button.disabled = false;
  }
}

async function loadAccounts() {
  try {
    const [credentials, providers] = await Promise.all([admin("/admin/credentials"), admin("/admin/providers")]);
    const names = providers.data.filter((p) => p.supported).map((p) => p.provider);
    const chosen = ui.provider.value;
    clear(ui.provider, names.map((n) => h("option", { value: n }, n)));
    if (names.includes(chosen)) ui.provider.value = chosen;
    renderAccounts(credentials.data);
  } catch (error) {
    if (!error.refused) say(ui.accountStatus, "error", `The accounts could not be read: ${error.message}`);
  }
}

function renderAccounts(accounts) {
  if (!accounts.length) {
    clear(ui.accounts, h("p", { class: "hint" }, "No account yet: add one below, or set a <PROVIDER>_API_KEY variable."));
    return;
  }
  const rows = accounts.map((a) => {
    const actions = h("td", { class: "row-actions" });
    const check = h("button", { type: "button", class: "quiet small" }, "Check key");
    check.addEventListener("click", () => checkAccount(a, check));
    actions.append(check);
    if (a.source === "store") {
      const toggle = h("button", { type: "button", class: "quiet small" }, a.enabled ? "Disable" : "Enable");
      toggle.addEventListener("click", () => setEnabled(a, !a.enabled));
      actions.append(toggle, confirming("Remove", "Sure? Remove", () => removeAccount(a)));
    }
    return h(
      "tr",
      { dataset: { account: `${a.provider}/${a.account_id}` } },
      h("th", { scope: "row" }, `${a.provider}/${a.account_id}`),
      h("td", {}, a.source === "env" ? "environment" : "stored"),
      h("td", {}, h("code", { class: "masked" }, a.key || "—")),
      h("td", {}, a.additional_headers.length ? a.additional_headers.join(", ") : "—"),
      h("td", {}, h("span", { class: `badge ${a.enabled ? "ok" : "off"}` }, a.enabled ? "enabled" : "disabled")),
      h("td", {}, moment(a.last_used_at)),
      h("td", { class: "last-error" }, a.problem || a.last_error || "—"),
      actions,
    );
  });
  clear(ui.accounts, table("Accounts", ["Account", "Source", "Key", "Extra headers", "State", "Last used", "Last error", "Actions"], rows));
}

async function checkAccount(account, button) {
  button.disabled = true;
  say(ui.accountStatus, "info", `Checking ${account.provider}/${account.account_id} with ${account.provider}…`);
  try {
    const verdict = await admin(`/admin/credentials/${enc(account.provider)}/${enc(account.account_id)}/check`, { method: "POST" });
    const kind = verdict.ok === true ? "ok" : "error";
    say(ui.accountStatus, kind, `${account.provider}/${account.account_id}: ${verdict.message}.`);
  } catch (error) {
    if (!error.refused) say(ui.accountStatus, "error", error.message);
  } finally {
    button.disabled = false;
  }
}

async function setEnabled(account, enabled) {
  try {
    await admin(`/admin/credentials/${enc(account.provider)}/${enc(account.account_id)}`, { method: "PATCH", body: { enabled } });
    say(ui.accountStatus, "ok", `${account.provider}/${account.account_id} ${enabled ? "enabled" : "disabled"}.`);
    loadAccounts();
  } catch (error) {
    if (!error.refused) say(ui.accountStatus, "error", error.message);
  }
}

async function removeAccount(account) {
  try {
    await admin(`/admin/credentials/${enc(account.provider)}/${enc(account.account_id)}`, { method: "DELETE" });
    say(ui.accountStatus, "ok", `${account.provider}/${account.account_id} removed.`);
    loadAccounts();
  } catch (error) {
    if (!error.refused) say(ui.accountStatus, "error", error.message);
  }
}

const enc = encodeURIComponent;

// --- gateway keys --------------------------------------------------------------------------

function keysSection() {
  ui.keyStatus = notice("info");
  ui.keyStatus.hidden = true;
  ui.newKey = h("div", { class: "new-key", hidden: true });
  ui.keyName = h("input", { type: "text", autocomplete: "off", maxlength: 100 });
  ui.keyRpm = h("input", { type: "number", min: 1, step: 1, inputmode: "numeric" });
  ui.keyTpd = h("input", { type: "number", min: 1, step: 1, inputmode: "numeric" });
  ui.keyDays = h("input", { type: "number", min: 1, step: 1, inputmode: "numeric" });
  const form = h(
    "form",
    { class: "grid-form", "aria-label": "Create a gateway key", on: { submit: createKey } },
    h("h3", {}, "Create a key"),
    field("Name", ui.keyName, "Who or what will use it."),
    field("Requests per minute (optional)", ui.keyRpm),
    field("Tokens per day (optional)", ui.keyTpd),
    field("Expires after days (optional)", ui.keyDays),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Create key")),
  );
  return section("Gateway keys", h("p", { class: "hint" }, "Clients of /v1 send one as “Authorization: Bearer …” (always on AWS)."), ui.keyStatus, ui.newKey, ui.keys, form);
}

function whole(input) {
  return input.value ? Number.parseInt(input.value, 10) : undefined;
}

async function createKey(event) {
  event.preventDefault();
  const body = {};
  if (ui.keyName.value.trim()) body.name = ui.keyName.value.trim();
  for (const [name, input] of [["requests_per_minute", ui.keyRpm], ["tokens_per_day", ui.keyTpd], ["expires_in_days", ui.keyDays]]) {
    if (whole(input) !== undefined) body[name] = whole(input);
  }
  try {
    const made = await admin("/admin/keys", { method: "POST", body });
    showNewKey(made);
    for (const input of [ui.keyName, ui.keyRpm, ui.keyTpd, ui.keyDays]) input.value = "";
    say(ui.keyStatus, "info");
    loadKeys();
  } catch (error) {
    if (!error.refused) say(ui.keyStatus, "error", error.message);
  }
}

function showNewKey(made) {
  const value = h("code", { class: "secret" }, made.key);
  const copy = h("button", { type: "button" }, "Copy");
  copy.addEventListener("click", () => copyText(made.key, copy));
  const done = h("button", { type: "button", class: "quiet" }, "I have kept it");
  done.addEventListener("click", () => {
    clear(ui.newKey); // gone from the page for good
    ui.newKey.hidden = true;
  });
  clear(
    ui.newKey,
    h("p", { role: "status" }, `New key “${made.name || made.id}”. `, h("strong", {}, made.note || "Keep it now: it cannot be shown again.")),
    h("div", { class: "secret-row" }, value, copy, done),
  );
  ui.newKey.hidden = false;
  copy.focus();
}

async function loadKeys() {
  try {
    const listing = await admin("/admin/keys");
    renderKeys(listing.data);
  } catch (error) {
    if (!error.refused) say(ui.keyStatus, "error", `The keys could not be read: ${error.message}`);
  }
}

function renderKeys(keys) {
  if (!keys.length) {
    clear(ui.keys, h("p", { class: "hint" }, "No gateway key yet."));
    return;
  }
  const rows = keys.map((k) =>
    h(
      "tr",
      { dataset: { key: k.id } },
      h("th", { scope: "row" }, k.name || "—"),
      h("td", {}, h("code", {}, k.prefix)),
      h("td", {}, moment(k.created_at)),
      h("td", {}, k.expires_at ? `${moment(k.expires_at)}${k.expired ? " (expired)" : ""}` : "never"),
      h("td", { class: "num" }, k.requests_per_minute ? count(k.requests_per_minute) : "—"),
      h("td", { class: "num" }, k.tokens_per_day ? count(k.tokens_per_day) : "—"),
      h("td", {}, confirming("Revoke", "Sure? Revoke", () => revokeKey(k))),
    ),
  );
  clear(ui.keys, table("Gateway keys", ["Name", "Key", "Created", "Expires", "Requests/min", "Tokens/day", "Actions"], rows));
}

async function revokeKey(key) {
  try {
    await admin(`/admin/keys/${enc(key.id)}`, { method: "DELETE" });
    say(ui.keyStatus, "ok", `Key “${key.name || key.id}” revoked: it no longer works.`);
    loadKeys();
  } catch (error) {
    if (!error.refused) say(ui.keyStatus, "error", error.message);
  }
}

// --- routing -------------------------------------------------------------------------------

function routingSection() {
  ui.routingStatus = notice("error");
  ui.routingStatus.hidden = true;
  return section("Routing", ui.routingStatus, ui.routing);
}

async function loadRouting() {
  try {
    renderRouting(await admin("/admin/routing"));
  } catch (error) {
    if (!error.refused) say(ui.routingStatus, "error", `The routing could not be read: ${error.message}`);
  }
}

function conditions(rule) {
  const c = rule.conditions || {};
  const parts = [];
  if (c.content_keywords?.length) parts.push(`keywords: ${c.content_keywords.join(", ")}`);
  if (c.task?.length) parts.push(`task: ${[].concat(c.task).join(", ")}`);
  if (c.min_context) parts.push(`at least ${count(c.min_context)} prompt tokens`);
  if (c.needs?.length) parts.push(`needs: ${c.needs.join(", ")}`);
  return parts.length ? parts.join("; ") : "always";
}

function renderRouting(routing) {
  const rules = routing.rules || [];
  const ruleView = rules.length
    ? table(
        "Routing rules, in the order they are tried (the first that applies decides)",
        ["Rule", "When", "Try first", "Then"],
        rules.map((r) => [r.name, conditions(r), (r.provider_preferences || []).join(", ") || "—", (r.fallback_chain || []).join(" → ") || "—"]),
      )
    : h("p", { class: "hint" }, "No routing rules in the catalog: “auto” follows the model_quality order below.");
  const orders = Object.entries(routing.qualities || {}).map(([quality, choices]) => {
    const weights = routing.profiles?.[quality];
    const how = weights ? ` — weights: quality ${weights.quality}, speed ${weights.speed}${weights.min_quality > 1 ? `, quality ${weights.min_quality}+ first` : ""}` : "";
    return h(
      "details",
      { class: "order", open: quality === routing.default_quality },
      h("summary", {}, `${quality}${quality === routing.default_quality ? " (default)" : ""}${how}: ${choices.length} candidates`),
      h(
        "ol",
        {},
        choices.map((c) =>
          h(
            "li",
            { class: c.configured ? "" : "muted" },
            `${c.provider}/${c.model}`,
            c.score !== undefined ? h("span", { class: "hint" }, ` score ${c.score}`) : "",
            c.configured ? "" : " — no account",
          ),
        ),
      ),
    );
  });
  clear(
    ui.routing,
    h("h3", {}, "Rules"),
    ruleView,
    h("h3", {}, "Order of “auto” for a plain message, by model_quality"),
    h("p", { class: "hint" }, "Free models first, then the score: quality and speed tiers as weighted, what was measured of each, a bonus for the message's task."),
    orders,
  );
}
