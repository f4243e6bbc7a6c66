import type { z } from "zod";
import { InvalidParameterError, InvalidRequestError, type QiusuoError } from "../core/errors.js";

/**
 * Turns the first zod issue into a DeepSeek-style error naming the field: a missing or
 * wrong-typed field is a 400 (the body has the wrong shape); an out-of-range value is a 422.
 */
export function zodIssueToError(issue: z.ZodIssue): QiusuoError {
  const param = issue.path.join(".") || null;
  const field = param ? `\`${param}\`` : "the request body";
  switch (issue.code) {
    case "invalid_type":
      if (issue.received === "undefined") {
        return new InvalidRequestError("missing_field", `Missing required field ${field}.`, param);
      }
      return new InvalidRequestError(
        "invalid_type",
        `Invalid type for ${field}: expected ${issue.expected}, got ${issue.received}.`,
        param,
      );
    case "invalid_union":
    case "invalid_union_discriminator":
    case "invalid_literal":
      return new InvalidRequestError("invalid_type", `Invalid value for ${field}: ${issue.message}.`, param);
    default:
      return new InvalidParameterError(
        "invalid_value",
        `Invalid value for ${field}: ${issue.message}.`,
        param,
      );
  }
}

export function parseWith<Schema extends z.ZodTypeAny>(schema: Schema, value: unknown): z.infer<Schema> {
  const result = schema.safeParse(value);
  if (!result.success) throw zodIssueToError(result.error.issues[0]!);
  return result.data;
}

/** `null` is accepted for every optional field and means "use the default" (DeepSeek sends them). */
export const optional = <Schema extends z.ZodTypeAny>(schema: Schema) =>
  schema.nullish().transform((value) => value ?? undefined);

/** The message of a range check, naming both ends. */
export const range = (low: number, high: number) => `must be between ${low} and ${high}`;
