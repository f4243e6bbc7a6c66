import { toWireError, type WireError } from "../errors.js";

/**
 * The Responses routes' errors: DeepSeek's envelope and table (which OpenAI shares), except that
 * OpenAI answers every bad value with 400 where DeepSeek sends 422, and that fields the engine
 * names as chat completions does (a prompt too long, a schema a grammar cannot enforce) are named
 * as this API does, in `param` and in the message.
 */
export function toResponsesError(thrown: unknown): WireError {
  const wire = toWireError(thrown);
  const { message, param } = wire.body.error;
  const error = {
    ...wire.body.error,
    message: renameFields(message),
    // The conversation's messages are not the input's items one for one: name `input` as a whole.
    param: param === null ? null : renameFields(param.replace(/^messages(\..*)?$/, "input")),
  };
  return { ...wire, status: wire.error.kind === "invalid_parameter" ? 400 : wire.status, body: { error } };
}

function renameFields(text: string): string {
  return text
    .replace(/\btools\.(\d+)\.function\./g, "tools.$1.")
    .replace(/\bresponse_format\.json_schema\./g, "text.format.")
    .replace(/\bresponse_format\b/g, "text.format");
}
