import { describe, expect, it } from "vitest";
import { DEFAULTS, readSettings, routing } from "../src/settings";

describe("settings", () => {
  it("falls back to the defaults for missing or unusable values", () => {
    expect(readSettings(() => undefined)).toEqual(DEFAULTS);
    const odd: Record<string, unknown> = {
      "api.baseUrl": "  ",
      "api.timeoutSeconds": -5,
      "ask.contextBudget": "big",
      "agent.completedAction": "explode",
    };
    expect(readSettings((key) => odd[key])).toEqual(DEFAULTS);
  });

  it("reads every setting under its documented key", () => {
    const values: Record<string, unknown> = {
      "api.baseUrl": " https://gw.example.com/prod ",
      "api.model": "groq/llama-3.3-70b-versatile",
      "api.modelQuality": "fastest",
      "api.provider": "groq",
      "api.timeoutSeconds": 30,
      "agent.completedAction": "diff",
      "agent.confirmWrites": false,
      "ask.contextBudget": 1000.7,
    };
    expect(readSettings((key) => values[key])).toEqual({
      baseUrl: "https://gw.example.com/prod",
      model: "groq/llama-3.3-70b-versatile",
      modelQuality: "fastest",
      provider: "groq",
      timeoutMs: 30_000,
      completedAction: "diff",
      confirmWrites: false,
      contextBudget: 1000,
    });
  });

  it("sends only the routing fields that ask for something", () => {
    expect(routing(DEFAULTS)).toEqual({});
    expect(
      routing({ ...DEFAULTS, model: "m", modelQuality: "balanced", provider: "groq" }),
    ).toEqual({
      model: "m",
      model_quality: "balanced",
      provider: "groq",
    });
  });
});
