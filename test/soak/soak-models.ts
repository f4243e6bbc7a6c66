// The models the soak serves, all generated fixtures whose greedy output is exact, so every answer
// can be checked word for word: the scripted chat model, a tool caller, a JSON writer, and the tiny
// random model for embeddings. Their ids are their file names.
import path from "node:path";
import { ensureFixtureModels, makeScriptedModel } from "../fixtures/models.js";

export const MODELS = { chat: "scripted", tools: "caller", json: "json", embeddings: "tiny" } as const;

/** What the scripted chat model answers (after reasoning "let me think"), whatever it is asked. */
export const CHAT_ANSWER = "The answer is 42";

export const WEATHER_TOOL = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", maxLength: 24 } },
      required: ["city"],
      additionalProperties: false,
    },
  },
} as const;

/** The caller model's one call. */
export const TOOL_ARGUMENTS = { city: "Paris" };

/** The JSON model's one answer; it fits JSON_SCHEMA and json_object. */
export const JSON_ANSWER = { city: "Paris", temperature: 21 };

export const JSON_SCHEMA = {
  type: "object",
  properties: { city: { type: "string", maxLength: 24 }, temperature: { type: "integer" } },
  required: ["city", "temperature"],
  additionalProperties: false,
} as const;

/** Writes the caller and JSON models into `dir`; the chat and tiny models come from the fixture cache. */
export function soakModelFiles(dir: string): string[] {
  const fixtures = ensureFixtureModels();
  const caller = path.join(dir, `${MODELS.tools}.gguf`);
  // The call as the tool grammar lays it out (`{"name": …, "arguments": …}`, with those spaces), so
  // the scripted token fits the grammar of tool_choice required and named too.
  const call = `{"name": "${WEATHER_TOOL.function.name}", "arguments": {"city": "${TOOL_ARGUMENTS.city}"}}`;
  makeScriptedModel(caller, { script: ["<tool_call>", `\n${call}`, "\n</tool_call>"] });
  const json = path.join(dir, `${MODELS.json}.gguf`);
  makeScriptedModel(json, { script: [JSON.stringify(JSON_ANSWER)] });
  // The first is the default model, loaded at start; the others load on first use.
  return [fixtures.scripted, caller, json, fixtures.tiny];
}
