// The admin views (dashboard, settings, analytics) ask for the admin key once per tab: the
// first view that gets it unlocks the others; a key the server refuses is forgotten and every
// view asks again, saying why.

import { adminKey, tryAdminKey } from "./api.js";
import { field, h, notice, say, uid } from "./dom.js";

export class Gate {
  // onOpen() runs each time the view may use the admin API; onClose() when it may not.
  constructor(section, { onOpen, onClose = () => {} }) {
    this.onOpen = onOpen;
    this.onClose = onClose;
    this.open = false;
    this.status = notice("error");
    this.status.hidden = true;
    this.input = h("input", { type: "password", autocomplete: "off", spellcheck: "false", required: true });
    const title = h("h2", { id: uid("gate") }, "Admin key");
    this.form = h(
      "form",
      { class: "gate card", "aria-labelledby": title.id, on: { submit: (event) => this.submit(event) } },
      title,
      h(
        "p",
        {},
        "This view uses the admin API. Type the admin key (LLM_AGG_ADMIN_KEY, or the key `llm-agg serve` printed on its first start). ",
        "It is kept in this tab only, until you close it.",
      ),
      field("Admin key", this.input),
      h("button", { type: "submit" }, "Unlock"),
      this.status,
    );
    this.content = h("div", { class: "gated", hidden: true });
    section.append(this.form, this.content);
    document.addEventListener("admin-key-refused", (event) => this.close(`The admin key was refused: ${event.detail}`));
    document.addEventListener("admin-key-accepted", () => this.visible && this.show());
    document.addEventListener("admin-key-forgotten", () => this.close(""));
    this.visible = false;
  }

  // The view became visible: open it if the tab has a key, else ask.
  show() {
    this.visible = true;
    if (adminKey.get()) {
      this.form.hidden = true;
      this.content.hidden = false;
      if (!this.open) {
        this.open = true;
        this.onOpen();
      }
    } else {
      this.form.hidden = false; // asking; a message from a refusal stays until the next try
      this.content.hidden = true;
      this.hide();
      this.visible = true;
    }
  }

  hide() {
    this.visible = false;
    if (this.open) {
      this.open = false;
      this.onClose();
    }
  }

  close(message) {
    const wasOpen = this.open;
    this.open = false;
    this.form.hidden = false;
    this.content.hidden = true;
    say(this.status, "error", ...(message ? [message] : []));
    if (wasOpen) this.onClose();
  }

  async submit(event) {
    event.preventDefault();
    const key = this.input.value.trim();
    if (!key) return;
    say(this.status, "info", "Checking the key…");
    try {
      await tryAdminKey(key);
      this.input.value = "";
      say(this.status, "info");
    } catch (error) {
      const refused = error.refused ? "The admin key was refused: " : "";
      say(this.status, "error", refused + error.message);
      this.input.select();
    }
  }
}
