// How numbers, times and durations read on the page.

const number = new Intl.NumberFormat();

export function count(value) {
  return value === null || value === undefined ? "—" : number.format(value);
}

export function ms(value) {
  if (value === null || value === undefined) return "—";
  return value >= 1000 ? `${(value / 1000).toFixed(value >= 10000 ? 0 : 1)} s` : `${Math.round(value)} ms`;
}

export function clock(epochSeconds) {
  if (!epochSeconds) return "—";
  return new Date(epochSeconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function moment(epochSeconds) {
  if (!epochSeconds) return "—";
  return new Date(epochSeconds * 1000).toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

// "in 1m 58s" / "3m ago"
export function relative(epochSeconds, now = Date.now() / 1000) {
  const delta = Math.round(epochSeconds - now);
  const size = Math.abs(delta);
  const text =
    size < 60 ? `${size}s` : size < 3600 ? `${Math.floor(size / 60)}m ${size % 60}s` : `${Math.floor(size / 3600)}h ${Math.floor((size % 3600) / 60)}m`;
  return delta >= 0 ? `in ${text}` : `${text} ago`;
}

// YYYY-MM-DD of a Date, in UTC: the usage counters count UTC days.
export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export function days(start, end) {
  const out = [];
  for (let d = new Date(`${start}T00:00:00Z`); isoDay(d) <= end; d.setUTCDate(d.getUTCDate() + 1)) {
    out.push(isoDay(d));
  }
  return out;
}
