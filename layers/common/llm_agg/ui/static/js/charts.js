// Line charts of values by day (uPlot, loaded the first time a chart is drawn). Each chart is
// an image to screen readers, with a label saying what it shows; the tables beside it hold
// the same numbers.

import { h } from "./dom.js";
import { loadScript, loadStyle } from "./load.js";

const UPLOT = "ui/static/vendor/uplot-1.6.32/";
const HEIGHT = 220;

export async function ready() {
  loadStyle(`${UPLOT}uPlot.min.css`);
  await loadScript(`${UPLOT}uPlot.iife.min.js`);
  return window.uPlot;
}

function palette() {
  const css = getComputedStyle(document.documentElement);
  const colors = [];
  for (let i = 1; i <= 8; i += 1) colors.push(css.getPropertyValue(`--chart-${i}`).trim() || "#888");
  return { colors, axis: css.getPropertyValue("--muted").trim(), grid: css.getPropertyValue("--line").trim() };
}

// series: [{label, values, color?: index, dash?: bool}]; days: ["YYYY-MM-DD", …]
export function chart(uPlot, { title, days, series, format }) {
  const { colors, axis, grid } = palette();
  const box = h("figure", { class: "chart", role: "img", "aria-label": `${title}: ${series.map((s) => s.label).join(", ")}` });
  const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const options = {
    title,
    width: 600,
    height: HEIGHT,
    // The usage counters count UTC days: show them as such, whatever the browser's zone.
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    series: [
      { label: "Day", value: (u, v) => (v === null ? "—" : new Date(v * 1000).toISOString().slice(0, 10)) },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: colors[(s.color ?? i) % colors.length],
        width: 2,
        dash: s.dash ? [6, 4] : undefined,
        points: { show: true, size: 6 },
        spanGaps: false,
        value: (u, v) => (v === null || v === undefined ? "—" : format(v)),
      })),
    ],
    axes: [
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
      { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 60, values: (u, ticks) => ticks.map(format) },
    ],
    legend: { live: true },
  };
  const plot = new uPlot(options, [xs, ...series.map((s) => s.values)], box);
  const resize = new ResizeObserver(() => {
    const width = Math.max(240, Math.floor(box.clientWidth));
    if (width !== plot.width) plot.setSize({ width, height: HEIGHT });
  });
  resize.observe(box);
  box.destroy = () => {
    resize.disconnect();
    plot.destroy();
  };
  return box;
}
