/** The request bodies and queries of the admin panel's API (`/api/admin`, see docs/api.md). */
import { z } from "zod";
import { optional, parseWith } from "../validation.js";
import { newKey, password, userName } from "./requests.js";

const role = z.enum(["admin", "user"]);
const id = z.string().min(1).max(100);
const time = optional(z.coerce.number().int().min(0));

export const parseNewUser = (body: unknown) =>
  parseWith(z.object({ name: userName, password, role: role.default("user") }), body);

/** A change to a user: at least one of role and state. */
export const parseUserChanges = (body: unknown) =>
  parseWith(
    z
      .object({ role: optional(role), disabled: optional(z.boolean()) })
      .strict()
      .refine((changes) => changes.role !== undefined || changes.disabled !== undefined, {
        message: "give `role` or `disabled`",
      }),
    body ?? {},
  );

export const parseNewPassword = (body: unknown) => parseWith(z.object({ password }), body);

/** A key an admin makes for any user, with the limits a user may set on their own keys. */
export const parseAdminNewKey = (body: unknown) => parseWith(newKey.extend({ userId: id }), body ?? {});

export const parseKeyListQuery = (query: unknown) => parseWith(z.object({ userId: optional(id) }), query);

const usageFilter = {
  userId: optional(id),
  apiKeyId: optional(id),
  model: optional(z.string().min(1).max(200)),
  since: time,
  until: time,
};

/** The ledger summed by one grouping, over the rows that pass the filters. */
export const parseAdminUsageQuery = (query: unknown) =>
  parseWith(
    z.object({ groupBy: z.enum(["user", "key", "model", "day"]).default("day"), ...usageFilter }),
    query,
  );

/** The ledger summed per day, split into one series per user, key or model (`none`: one series). */
export const parseDailyUsageQuery = (query: unknown) =>
  parseWith(
    z.object({ series: z.enum(["none", "user", "key", "model"]).default("none"), ...usageFilter }),
    query,
  );
