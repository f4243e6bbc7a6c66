/** DeepSeek's strict-mode check for tool parameter schemas. */

import { MAX_SCHEMA_DEPTH, at, has, invalid, isObject } from "./schema.js";

const SUBSCHEMA_MAPS = ["properties", "$defs", "definitions", "patternProperties", "dependentSchemas"];
const SUBSCHEMA_LISTS = ["prefixItems", "anyOf", "oneOf", "allOf"];
const SUBSCHEMAS = [
  "items",
  "additionalProperties",
  "not",
  "if",
  "then",
  "else",
  "contains",
  "propertyNames",
  "unevaluatedItems",
  "unevaluatedProperties",
  "additionalItems",
];

/**
 * DeepSeek's strict-mode rules for tool parameters (`strict: true`): on every object schema, every
 * property must be listed in `required` and `additionalProperties` must be `false`. Throws
 * InvalidParameterError `invalid_schema` with `param` under `path`. Other keywords are left to the
 * converter (which goes beyond DeepSeek, e.g. allowing minLength/maxItems).
 */
export function validateStrictToolSchema(schema: unknown, path: string): void {
  const walk = (node: unknown, nodePath: string, depth: number): void => {
    if (Array.isArray(node)) {
      node.forEach((item, index) => walk(item, at(nodePath, index), depth + 1));
      return;
    }
    if (!isObject(node)) return;
    if (depth > MAX_SCHEMA_DEPTH)
      invalid(nodePath, `The schema nests deeper than ${MAX_SCHEMA_DEPTH} levels.`);
    const type = node.type;
    const isObjectSchema =
      type === "object" ||
      (Array.isArray(type) && type.includes("object")) ||
      (type === undefined && (has(node, "properties") || has(node, "additionalProperties")));
    if (isObjectSchema) {
      const properties = isObject(node.properties) ? Object.keys(node.properties) : [];
      const required = Array.isArray(node.required) ? node.required : [];
      for (const name of properties) {
        if (!required.includes(name)) {
          invalid(
            at(nodePath, "required"),
            `Strict mode requires every property to be in 'required'; '${name}' is missing (at ${nodePath}).`,
          );
        }
      }
      if (node.additionalProperties !== false) {
        invalid(
          at(nodePath, "additionalProperties"),
          `Strict mode requires 'additionalProperties': false on every object (at ${nodePath}).`,
        );
      }
    }
    for (const key of SUBSCHEMA_MAPS) {
      const map = node[key];
      if (isObject(map))
        for (const [name, sub] of Object.entries(map)) walk(sub, at(at(nodePath, key), name), depth + 1);
    }
    for (const key of SUBSCHEMA_LISTS) {
      const list = node[key];
      if (Array.isArray(list))
        list.forEach((sub, index) => walk(sub, at(at(nodePath, key), index), depth + 1));
    }
    for (const key of SUBSCHEMAS) if (has(node, key)) walk(node[key], at(nodePath, key), depth + 1);
  };
  walk(schema, path, 0);
}
