/** The extension's settings, read in one place and typed (the keys live nowhere else). */

export const SECTION = "openhands";

export type CompletedAction = "insert" | "diff";

export interface Settings {
  baseUrl: string;
  model: string;
  modelQuality: string;
  provider: string;
  completedAction: CompletedAction;
  confirmWrites: boolean;
  contextBudget: number;
  timeoutMs: number;
}

export const DEFAULTS: Settings = {
  baseUrl: "http://localhost:8000",
  model: "auto",
  modelQuality: "",
  provider: "",
  completedAction: "insert",
  confirmWrites: true,
  contextBudget: 24000,
  timeoutMs: 900_000, // the deployed API's own limit (API Gateway, 900 s)
};

/** Reads `openhands.<key>`; the VS Code side passes `workspace.getConfiguration(SECTION).get`. */
export type SettingReader = (key: string) => unknown;

function text(read: SettingReader, key: string, fallback: string): string {
  const value = read(key);
  return typeof value === "string" ? value.trim() : fallback;
}

function positive(read: SettingReader, key: string, fallback: number): number {
  const value = read(key);
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : fallback;
}

export function readSettings(read: SettingReader): Settings {
  const action = read("agent.completedAction");
  return {
    baseUrl: text(read, "api.baseUrl", DEFAULTS.baseUrl) || DEFAULTS.baseUrl,
    model: text(read, "api.model", DEFAULTS.model),
    modelQuality: text(read, "api.modelQuality", DEFAULTS.modelQuality),
    provider: text(read, "api.provider", DEFAULTS.provider),
    completedAction: action === "diff" ? "diff" : "insert",
    confirmWrites: read("agent.confirmWrites") !== false,
    contextBudget: Math.floor(positive(read, "ask.contextBudget", DEFAULTS.contextBudget)),
    timeoutMs: positive(read, "api.timeoutSeconds", DEFAULTS.timeoutMs / 1000) * 1000,
  };
}

/** The routing fields both endpoints take; "auto" and empty mean "let the gateway choose". */
export function routing(settings: Settings): {
  model?: string;
  model_quality?: string;
  provider?: string;
} {
  const out: { model?: string; model_quality?: string; provider?: string } = {};
  if (settings.model && settings.model !== "auto") out.model = settings.model;
  if (settings.modelQuality) out.model_quality = settings.modelQuality;
  if (settings.provider) out.provider = settings.provider;
  return out;
}
