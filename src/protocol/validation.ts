import { z } from "zod";
import { InvalidParameterError, InvalidRequestError, type QiusuoError } from "../core/errors.js";
import { SliceClock } from "../core/slice-clock.js";

/**
 * How deeply a free-form JSON value in a request (tool arguments and inputs, tool and response
 * schemas) may nest arrays and objects. Real values nest a few levels. `JSON.parse` accepts any
 * depth, but what walks a value afterwards by recursion (`JSON.stringify`, chat templates, the
 * grammar compiler) overflows the stack at a few thousand levels; 64 keeps them far from it.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * How deeply a whole request body may nest. The deepest free-form value starts about six levels
 * in (`messages.1.content.0.input`), so a valid body stays well under this; it catches deep values
 * in fields no schema names (unknown fields, extra keys of open objects).
 */
export const MAX_BODY_DEPTH = 100;

/**
 * The most messages a request may hold: more than any context here can take (a message costs a
 * few tokens of template at least), and few enough that a request of this many is checked in a
 * fraction of a second of sliced work.
 */
export const MAX_MESSAGES = 10_000;

/** A body's error names at most this many path segments: the field, not a hundred `0`s after it. */
const MAX_PARAM_SEGMENTS = 8;

type Path = Array<string | number>;

/** Marks the zod issues that a too-deep value raises, so they map to a 400 `too_deep`. */
const TOO_DEEP = "too_deep";

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
    case "custom":
      if (issue.params?.code === TOO_DEEP) {
        return new InvalidRequestError(TOO_DEEP, `Invalid value for ${field}: ${issue.message}.`, param);
      }
      return new InvalidParameterError(
        "invalid_value",
        `Invalid value for ${field}: ${issue.message}.`,
        param,
      );
    default:
      return new InvalidParameterError(
        "invalid_value",
        `Invalid value for ${field}: ${issue.message}.`,
        param,
      );
  }
}

/** Validates a request body against its schema, then bounds how deeply the whole body nests. */
export function parseWith<Schema extends z.ZodTypeAny>(schema: Schema, value: unknown): z.infer<Schema> {
  const parsed = parseShape(schema, value);
  checkBodyDepth(value);
  return parsed;
}

/**
 * Validates against the schema only, for parsers that check nested fields in a second step and
 * must name them before {@link checkBodyDepth} runs.
 */
export function parseShape<Schema extends z.ZodTypeAny>(schema: Schema, value: unknown): z.infer<Schema> {
  const result = schema.safeParse(value);
  if (!result.success) throw zodIssueToError(result.error.issues[0]!);
  return result.data;
}

/**
 * Validates each item of a request's array (its messages) against `schema`, yielding to the
 * event loop every few milliseconds: zod takes 10-40 µs a message, so 8,000 messages in one go
 * held every other request for 0.2-0.4 s. The first invalid item is named by its path.
 */
export async function parseItems<Schema extends z.ZodTypeAny>(
  schema: Schema,
  items: readonly unknown[],
  path: string,
): Promise<Array<z.infer<Schema>>> {
  const parsed: Array<z.infer<Schema>> = [];
  const clock = new SliceClock();
  for (const [index, item] of items.entries()) {
    const result = schema.safeParse(item);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw zodIssueToError({ ...issue, path: [path, index, ...issue.path] });
    }
    parsed.push(result.data);
    await clock.maybeYield();
  }
  return parsed;
}

/**
 * An array of at least one and at most {@link MAX_MESSAGES} items, checked in constant time: its
 * items are checked by {@link parseItems}, in slices.
 */
export const messageList = z.custom<unknown[]>().superRefine((value, context) => {
  if (!Array.isArray(value)) {
    context.addIssue({
      code: z.ZodIssueCode.invalid_type,
      expected: "array",
      received: value === undefined ? "undefined" : value === null ? "null" : typeof value,
    } as z.IssueData);
  } else if (value.length === 0) {
    context.addIssue({ code: z.ZodIssueCode.custom, message: "must hold at least 1 message" });
  } else if (value.length > MAX_MESSAGES) {
    context.addIssue({ code: z.ZodIssueCode.custom, message: `must hold at most ${MAX_MESSAGES} messages` });
  }
});

/** Throws a 400 `too_deep` when the body nests deeper than {@link MAX_BODY_DEPTH}. */
export function checkBodyDepth(body: unknown): void {
  throwIfTooDeep(pathPastDepth(body, MAX_BODY_DEPTH));
}

/**
 * {@link checkBodyDepth} for bodies that may hold many values (chat requests: 100,000 messages
 * are half a million), in slices that leave the event loop free between them.
 */
export async function checkBodyDepthInSlices(body: unknown): Promise<void> {
  const walk = walkPastDepth(body, MAX_BODY_DEPTH);
  const clock = new SliceClock();
  let step = walk.next();
  while (!step.done) {
    await clock.maybeYield();
    step = walk.next();
  }
  throwIfTooDeep(step.value);
}

function throwIfTooDeep(path: Path | undefined): void {
  if (path === undefined) return;
  const param = path.slice(0, MAX_PARAM_SEGMENTS).join(".");
  throw new InvalidRequestError(
    TOO_DEEP,
    `The request body nests arrays and objects deeper than ${MAX_BODY_DEPTH} levels (in \`${param}\`).`,
    param,
  );
}

/** A free-form JSON value (an object or array schema) that may nest at most {@link MAX_JSON_DEPTH} levels. */
export const shallowJson = <Schema extends z.ZodTypeAny>(schema: Schema) =>
  schema.superRefine((value, context) => {
    if (pathPastDepth(value, MAX_JSON_DEPTH) !== undefined) context.addIssue(tooDeepIssue);
  });

/** JSON text (tool-call arguments) whose arrays and objects nest at most {@link MAX_JSON_DEPTH} levels. */
export const shallowJsonText = z.string().superRefine((text, context) => {
  if (textNestsDeeperThan(text, MAX_JSON_DEPTH)) context.addIssue(tooDeepIssue);
});

const tooDeepIssue = {
  code: z.ZodIssueCode.custom,
  message: `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels`,
  params: { code: TOO_DEEP },
} as const;

/**
 * The path to the first array or object nested deeper than `limit` levels in `value` (the value
 * itself being level 1), or undefined. Walks with its own stack, so no depth can overflow it.
 */
export function pathPastDepth(value: unknown, limit: number): Path | undefined {
  const walk = walkPastDepth(value, limit);
  let step = walk.next();
  while (!step.done) step = walk.next();
  return step.value;
}

/** The walk of {@link pathPastDepth}, pausing (yielding) every 4,096 values. */
function* walkPastDepth(value: unknown, limit: number): Generator<void, Path | undefined> {
  interface Link {
    key: string | number;
    parent: Link | undefined;
  }
  const pending: Array<{ value: object; depth: number; at: Link | undefined }> = [];
  if (typeof value === "object" && value !== null) pending.push({ value, depth: 1, at: undefined });
  let visited = 0;
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    if (item.depth > limit) {
      const path: Path = [];
      for (let link = item.at; link !== undefined; link = link.parent) path.push(link.key);
      return path.reverse();
    }
    const entries: Iterable<[string | number, unknown]> = Array.isArray(item.value)
      ? item.value.entries()
      : Object.entries(item.value);
    for (const [key, child] of entries) {
      if (typeof child === "object" && child !== null) {
        pending.push({ value: child, depth: item.depth + 1, at: { key, parent: item.at } });
      }
    }
    if (++visited % 4096 === 0) yield;
  }
  return undefined;
}

/**
 * Whether JSON text nests arrays and objects deeper than `limit` levels, counting brackets outside
 * strings in one pass; text that is not valid JSON is counted the same way.
 */
export function textNestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (inString) {
      if (char === "\\") index++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === "[" || char === "{") {
      if (++depth > limit) return true;
    } else if ((char === "]" || char === "}") && depth > 0) depth--;
  }
  return false;
}

/** `null` is accepted for every optional field and means "use the default" (DeepSeek sends them). */
export const optional = <Schema extends z.ZodTypeAny>(schema: Schema) =>
  schema.nullish().transform((value) => value ?? undefined);

/** The message of a range check, naming both ends. */
export const range = (low: number, high: number) => `must be between ${low} and ${high}`;
