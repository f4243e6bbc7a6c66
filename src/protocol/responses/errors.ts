import { toWireError, type WireError } from "../errors.js";

/**
 * The Responses routes' errors: DeepSeek's envelope and table (which OpenAI shares), except that
 * OpenAI answers every bad value with 400 where DeepSeek sends 422.
 */
export function toResponsesError(thrown: unknown): WireError {
  const wire = toWireError(thrown);
  return wire.error.kind === "invalid_parameter" ? { ...wire, status: 400 } : wire;
}
