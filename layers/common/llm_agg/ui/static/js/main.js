// The page: four views behind #/chat, #/dashboard, #/settings and #/analytics, each built the
// first time it is shown.

import { adminKey } from "./api.js";
import * as analytics from "./analytics.js";
import * as chat from "./chat.js";
import * as dashboard from "./dashboard.js";
import * as settings from "./settings.js";

const VIEWS = { chat, dashboard, settings, analytics };
const TITLES = { chat: "Chat", dashboard: "Dashboard", settings: "Settings", analytics: "Analytics" };
const mounted = new Set();
let current = null;

function route() {
  const match = /^#\/(\w+)/.exec(location.hash);
  const name = match && VIEWS[match[1]] ? match[1] : current || "chat";
  if (name === current) return;
  if (current) {
    VIEWS[current].hide?.();
    document.getElementById(`view-${current}`).hidden = true;
  }
  const section = document.getElementById(`view-${name}`);
  if (!mounted.has(name)) {
    VIEWS[name].mount(section);
    mounted.add(name);
  }
  section.hidden = false;
  for (const link of document.querySelectorAll("nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${TITLES[name]} · LLM API Aggregator`;
  const moved = current !== null;
  current = name;
  VIEWS[name].show();
  if (moved) document.getElementById("main").focus({ preventScroll: true });
}

function lockButton() {
  const lock = document.getElementById("lock");
  const update = () => {
    lock.hidden = !adminKey.get();
  };
  lock.addEventListener("click", () => {
    adminKey.clear();
    update();
    document.dispatchEvent(new CustomEvent("admin-key-forgotten"));
  });
  for (const event of ["admin-key-accepted", "admin-key-refused"]) document.addEventListener(event, update);
  update();
}

document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault(); // "#main" is not a view: move the focus, leave the address alone
  document.getElementById("main").focus();
});
window.addEventListener("hashchange", route);
lockButton();
route();
