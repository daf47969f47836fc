// Free capacity: what the configured keys are worth (GET /admin/capacity). Per provider and
// free model, the requests and tokens per minute and per day: what is left now of the total
// over the quotas the keys really hold (keys of one project or organisation count once).

import { h, table } from "./dom.js";
import { count } from "./format.js";

const WINDOWS = ["rpm", "rpd", "tpm", "tpd"];

function cells(windows) {
  const named = Object.fromEntries(windows.map((w) => [w.name, w]));
  return WINDOWS.map((name) => {
    const w = named[name];
    return h("td", { class: "num", dataset: { window: name } }, w ? `${count(w.left)} / ${count(w.total)}` : "—");
  });
}

function row(provider, model, quotas, windows) {
  return h(
    "tr",
    { dataset: { provider, model } },
    h("th", { scope: "row" }, provider),
    h("td", {}, model),
    h("td", { dataset: { field: "quotas" } }, quotas),
    cells(windows),
  );
}

export function capacityTable(providers) {
  const rows = [];
  for (const p of providers) {
    const keys = `${p.accounts} ${p.accounts === 1 ? "key" : "keys"}`;
    const quotas = `${p.quotas} (${keys}, per ${p.quota_scope})`;
    if (p.shared.length) rows.push(row(p.provider, "all models", quotas, p.shared));
    for (const m of p.models) rows.push(row(p.provider, m.model, quotas, m.windows));
  }
  if (!rows.length) return h("p", { class: "hint" }, "No configured provider has a free model in the catalog.");
  return table(
    "Free capacity of the configured keys: left now / total",
    ["Provider", "Model", "Quotas", "Requests / min", "Requests / day", "Tokens / min", "Tokens / day"],
    rows,
    { className: "capacity" },
  );
}
