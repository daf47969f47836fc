// Analytics: requests, tokens, errors and latency over a range of days (GET
// /admin/usage-stats), by provider, model, gateway key or account: bars, charts over time,
// and the tables with every number.

import { admin } from "./api.js";
import { chart, ready as chartsReady } from "./charts.js";
import { clear, field, h, notice, say, select, table } from "./dom.js";
import { count, days as dayRange, isoDay, ms } from "./format.js";
import { Gate } from "./gate.js";

const GROUPS = [
  ["provider", "Provider"],
  ["model", "Model"],
  ["gateway_key", "Gateway key"],
  ["account", "Account"],
];
const TOP = 6; // series drawn per chart; the tables list every one

let gate = null;
let ui = null;
let charts = [];

export function mount(section) {
  const today = isoDay(new Date());
  ui = {
    start: h("input", { type: "date", required: true, value: shift(today, -6) }),
    end: h("input", { type: "date", required: true, value: today }),
    group: select(GROUPS, "provider"),
    status: notice("info"),
    tiles: h("div", { class: "tiles" }),
    bars: h("div"),
    charts: h("div", { class: "charts" }),
    tables: h("div"),
  };
  ui.status.hidden = true;
  gate = new Gate(section, { onOpen: load });
  const quick = (label, back) =>
    h("button", { type: "button", class: "quiet small", on: { click: () => setRange(back) } }, label);
  const form = h(
    "form",
    { class: "toolbar", "aria-label": "Date range and grouping", on: { submit: (e) => (e.preventDefault(), load()) } },
    field("From", ui.start),
    field("To", ui.end),
    field("Group by", ui.group),
    h("button", { type: "submit" }, "Show"),
    h("div", { class: "quick", role: "group", "aria-label": "Quick ranges" }, quick("Today", 0), quick("7 days", 6), quick("30 days", 29)),
  );
  ui.group.addEventListener("change", load);
  gate.content.append(form, ui.status, ui.tiles, ui.bars, ui.charts, ui.tables);
}

export function show() {
  gate.show();
}

export function hide() {
  gate.hide();
}

function shift(day, by) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + by);
  return isoDay(d);
}

function setRange(back) {
  ui.end.value = isoDay(new Date());
  ui.start.value = shift(ui.end.value, -back);
  load();
}

async function load() {
  const query = new URLSearchParams({ start: ui.start.value, end: ui.end.value });
  say(ui.status, "info", "Loading…");
  try {
    const [stats, keys] = await Promise.all([admin(`/admin/usage-stats?${query}`), admin("/admin/keys")]);
    say(ui.status, "info");
    const names = Object.fromEntries(keys.data.map((k) => [k.id, k.name ? `${k.name} (${k.prefix})` : k.prefix]));
    names["-"] = "no key (open local server)";
    await render(stats, (key) => (ui.group.value === "gateway_key" ? names[key] || key : key));
  } catch (error) {
    if (!error.refused) say(ui.status, "error", `The usage could not be read: ${error.message}`);
  }
}

function tile(label, value, detail) {
  return h("div", { class: "tile" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), detail ? h("div", { class: "hint" }, detail) : null);
}

function tokens(s) {
  return s.prompt_tokens + s.completion_tokens;
}

async function render(stats, nameOf) {
  for (const c of charts) c.destroy();
  charts = [];
  const total = stats.total;
  const group = ui.group.value;
  const label = GROUPS.find(([g]) => g === group)[1];
  const rate = total.requests ? ` (${((100 * total.errors) / total.requests).toFixed(1)}%)` : "";
  clear(
    ui.tiles,
    tile("Requests", count(total.requests), `${stats.start} → ${stats.end}`),
    tile("Errors", count(total.errors) + rate),
    tile("Tokens", count(tokens(total)), `${count(total.prompt_tokens)} in → ${count(total.completion_tokens)} out`),
    tile("Latency p50 / p95", `${ms(total.latency_p50_ms)} / ${ms(total.latency_p95_ms)}`),
  );
  const sums = stats.by[group] || {};
  const keys = Object.keys(sums).sort((a, b) => sums[b].requests - sums[a].requests);
  if (!keys.length) {
    clear(ui.bars, h("p", { class: "empty" }, "No requests in this range."));
    clear(ui.charts);
    clear(ui.tables);
    return;
  }
  clear(ui.bars, bars(`Requests by ${label.toLowerCase()}`, keys, sums, nameOf));
  clear(ui.tables, groupTable(label, keys, sums, total, nameOf), dayTable(stats.by.day || {}));
  const uPlot = await chartsReady();
  const days = dayRange(stats.start, stats.end);
  const series = stats.series?.[group] || {};
  const top = keys.slice(0, TOP);
  const line = (key, pick, extra = {}) => ({
    label: nameOf(key),
    values: days.map((d) => (series[key]?.[d] ? pick(series[key][d]) : extra.gap ? null : 0)),
    ...extra,
  });
  charts = [
    chart(uPlot, { title: "Requests per day", days, format: count, series: top.map((k) => line(k, (s) => s.requests)) }),
    chart(uPlot, { title: "Tokens per day", days, format: count, series: top.map((k) => line(k, tokens)) }),
    chart(uPlot, { title: "Errors per day", days, format: count, series: top.map((k) => line(k, (s) => s.errors)) }),
    chart(uPlot, {
      title: "Latency per day: p50 (solid) and p95 (dashed)",
      days,
      format: ms,
      series: top.slice(0, 4).flatMap((k, i) => [
        line(k, (s) => s.latency_p50_ms, { gap: true, color: i, label: `${nameOf(k)} p50` }),
        line(k, (s) => s.latency_p95_ms, { gap: true, color: i, dash: true, label: `${nameOf(k)} p95` }),
      ]),
    }),
  ];
  clear(ui.charts, charts);
}

function bars(title, keys, sums, nameOf) {
  const most = Math.max(...keys.map((k) => sums[k].requests), 1);
  return h(
    "figure",
    { class: "bars" },
    h("figcaption", {}, title),
    h(
      "ul",
      {},
      keys.map((key, i) => {
        const bar = h("span", { class: `bar c${i % 8}` });
        bar.style.width = `${Math.max(1, (100 * sums[key].requests) / most)}%`; // CSSOM: allowed by the CSP
        return h("li", {}, h("span", { class: "name" }, nameOf(key)), h("span", { class: "track" }, bar), h("span", { class: "num" }, count(sums[key].requests)));
      }),
    ),
  );
}

// "rate_limited: 2, server: 1": the kinds behind an error count, shown on hover.
function kindsOf(s) {
  const kinds = Object.entries(s.errors_by_kind || {}).filter(([, n]) => n);
  return kinds.length ? kinds.map(([kind, n]) => `${kind}: ${count(n)}`).join(", ") : undefined;
}

function statCells(s) {
  const values = [count(s.requests), count(s.errors), count(s.prompt_tokens), count(s.completion_tokens), ms(s.latency_p50_ms), ms(s.latency_p95_ms), count(s.failovers ?? 0)];
  return values.map((v, i) => h("td", { class: "num", title: i === 1 ? kindsOf(s) : undefined }, v));
}

// Failovers: requests served only after an earlier attempt failed (another provider or account).
const STAT_HEADERS = ["Requests", "Errors", "Prompt tokens", "Completion tokens", "p50", "p95", "Failovers"];

function groupTable(label, keys, sums, total, nameOf) {
  const rows = keys.map((k) => h("tr", { dataset: { group: k } }, h("th", { scope: "row" }, nameOf(k)), statCells(sums[k])));
  rows.push(h("tr", { class: "total" }, h("th", { scope: "row" }, "Total"), statCells(total)));
  return table(`Usage by ${label.toLowerCase()}`, [label, ...STAT_HEADERS], rows, { className: "stats" });
}

function dayTable(byDay) {
  const days = Object.keys(byDay).sort().reverse();
  const rows = days.map((d) => h("tr", {}, h("th", { scope: "row" }, d), statCells(byDay[d])));
  return table("Usage by day (UTC)", ["Day", ...STAT_HEADERS], rows, { className: "stats" });
}
