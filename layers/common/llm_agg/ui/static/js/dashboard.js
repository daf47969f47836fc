// Dashboard: every provider and its accounts (GET /admin/providers), and the free capacity of
// the configured keys (GET /admin/capacity), refreshed every few seconds while the view is
// shown and the tab visible.

import { admin } from "./api.js";
import { capacityTable } from "./capacity.js";
import { clear, h, notice, say, table } from "./dom.js";
import { clock, count, relative } from "./format.js";
import { Gate } from "./gate.js";

const EVERY = 5000;

let gate = null;
let ui = null;
let timer = null;

export function mount(section) {
  ui = {
    auto: h("input", { type: "checkbox", checked: true }),
    refresh: h("button", { type: "button", class: "quiet" }, "Refresh now"),
    updated: h("span", { class: "hint", "aria-live": "off" }),
    summary: h("p", { class: "summary" }),
    providers: h("div", { class: "providers" }),
    capacity: h("section", { class: "card capacity", "aria-label": "Free capacity" }),
    status: notice("error"),
  };
  ui.status.hidden = true;
  gate = new Gate(section, { onOpen: start, onClose: stop });
  ui.auto.id = "dashboard-auto";
  ui.refresh.addEventListener("click", load);
  ui.auto.addEventListener("change", () => (ui.auto.checked ? start() : stop()));
  gate.content.append(
    h(
      "div",
      { class: "toolbar" },
      h("div", { class: "check" }, ui.auto, h("label", { for: ui.auto.id }, `Refresh every ${EVERY / 1000} s`)),
      ui.refresh,
      ui.updated,
    ),
    ui.status,
    ui.summary,
    ui.capacity,
    ui.providers,
  );
  document.addEventListener("visibilitychange", () => {
    if (gate.open && ui.auto.checked && !document.hidden) start();
  });
}

export function show() {
  gate.show();
}

export function hide() {
  gate.hide();
}

function start() {
  stop();
  load();
}

function stop() {
  clearTimeout(timer);
  timer = null;
}

function schedule() {
  clearTimeout(timer);
  if (gate.open && ui.auto.checked && !document.hidden) timer = setTimeout(load, EVERY);
}

async function load() {
  try {
    const [listing, capacity] = await Promise.all([admin("/admin/providers"), admin("/admin/capacity")]);
    render(listing.data);
    clear(ui.capacity, h("h2", {}, "Free capacity"), capacityTable(capacity.data));
    say(ui.status, "error");
    ui.updated.textContent = `Updated ${clock(Date.now() / 1000)}`;
  } catch (error) {
    if (!error.refused) say(ui.status, "error", `The providers could not be read: ${error.message}`);
  } finally {
    schedule();
  }
}

function yesNo(value, good = true) {
  return h("span", { class: `badge ${value === good ? "ok" : "bad"}` }, value ? "yes" : "no");
}

// The account as a whole (cooling_down_until), and each cooldown of it or of one of its
// models with the reason the router gave.
function cooling(account) {
  const until = account.cooling_down_until;
  const parts = [];
  const when = (at) => [h("span", { class: "badge warn" }, `until ${clock(at)}`), ` (${relative(at)})`];
  const listed = account.cooling_down || [];
  if (until && !listed.some((c) => c.until === until && c.scope === "*")) parts.push(h("div", {}, when(until)));
  for (const c of listed) {
    const scope = c.scope === "*" ? "all models" : c.scope;
    parts.push(h("div", {}, `${scope} `, when(c.until), c.reason ? h("div", { class: "hint" }, c.reason) : null));
  }
  return parts.length ? parts : "—";
}

// The account's state as the router sees it, worst first (admin/views.py STATES), with
// until when it holds.
const STATES = {
  healthy: ["ok", "healthy"],
  cooling_down: ["warn", "cooling down"],
  failing: ["bad", "failing"],
  quota_spent: ["warn", "quota spent"],
  key_refused: ["bad", "key refused"],
  no_credits: ["bad", "no credits"],
  disabled: ["off", "disabled"],
  unreadable: ["bad", "unreadable"],
};

function stateOf(account) {
  const [kind, words] = STATES[account.state] || [account.healthy ? "ok" : "bad", account.healthy ? "healthy" : "unhealthy"];
  const until = account.state_until;
  return [
    h("span", { class: `badge ${kind}`, dataset: { state: account.state || "" } }, words),
    until ? h("div", { class: "hint" }, `until ${clock(until)} (${relative(until)})`) : null,
    account.state === "failing" ? h("div", { class: "hint" }, "tried only when nothing else is left") : null,
  ];
}

function lastError(account) {
  if (!account.last_error) return "—";
  const at = account.last_error_at;
  const times = account.consecutive_errors > 1 ? ` · ${count(account.consecutive_errors)} in a row` : "";
  return [h("div", {}, account.last_error), at ? h("div", { class: "hint" }, `${clock(at)} (${relative(at)})${times}`) : null];
}

function isCooling(account) {
  return Boolean(account.cooling_down_until || account.cooling_down?.length);
}

function quota(account) {
  if (!Array.isArray(account.quota)) return h("span", { class: "hint", title: "This gateway does not report quota." }, "not reported");
  if (!account.quota.length) return "no limit known";
  return account.quota.map((q) =>
    h("div", {}, `${count(q.left)} / ${count(q.limit)} ${q.name}${q.scope && q.scope !== "*" ? ` (${q.scope})` : ""}`),
  );
}

function accountRow(account) {
  return h(
    "tr",
    { dataset: { account: account.account_id } },
    h("th", { scope: "row" }, account.account_id, h("div", { class: "hint" }, account.source === "env" ? "environment" : "stored")),
    h("td", {}, yesNo(account.enabled)),
    h("td", { dataset: { field: "state" } }, stateOf(account)),
    h("td", { dataset: { field: "cooling" } }, cooling(account)),
    h("td", { dataset: { field: "quota" } }, quota(account)),
    h("td", { class: "last-error" }, lastError(account)),
    h("td", { class: "num" }, count(account.requests_today)),
  );
}

function providerCard(provider) {
  const state = !provider.supported ? "not supported" : provider.configured ? "configured" : "not configured";
  const kind = !provider.supported ? "bad" : provider.configured ? "ok" : "off";
  const accounts = provider.accounts || [];
  return h(
    "section",
    { class: "card provider", dataset: { provider: provider.provider }, "aria-label": provider.provider },
    h("h2", {}, provider.provider, " ", h("span", { class: `badge ${kind}` }, state)),
    accounts.length
      ? table(
          `${provider.provider} accounts`,
          ["Account", "Enabled", "State", "Cooling down", "Quota left", "Last error", "Requests today"],
          accounts.map(accountRow),
          { className: "accounts", hiddenCaption: true },
        )
      : h("p", { class: "hint" }, `No account: add one in Settings, or set ${provider.setup || "its API key variable"}.`),
  );
}

function render(providers) {
  const accounts = providers.flatMap((p) => p.accounts || []);
  const healthy = accounts.filter((a) => a.healthy).length;
  const coolingNow = accounts.filter(isCooling).length;
  const failing = accounts.filter((a) => ["failing", "key_refused", "no_credits", "quota_spent"].includes(a.state)).length;
  const configured = providers.filter((p) => p.configured).length;
  clear(
    ui.summary,
    `${configured} of ${providers.length} providers configured · ${healthy} of ${accounts.length} accounts healthy`,
    coolingNow ? ` · ${coolingNow} cooling down` : "",
    failing ? ` · ${failing} failing or out of service` : "",
  );
  // Configured providers first: they are what a person looks for.
  const ordered = [...providers].sort((a, b) => Number(b.configured) - Number(a.configured));
  clear(ui.providers, ordered.map(providerCard));
}
