/**
 * `qiusuo keys create|ls|revoke`: API keys. A running server looks keys up in the database on every
 * request, so a new or revoked key takes effect at once without a restart.
 */
import type { Command } from "commander";
import { shownKeyFields, type ApiKey, type ApiKeyLimits } from "../store/api-keys.js";
import type { Store } from "../store/store.js";
import type { User } from "../store/users.js";
import {
  addStoreOptions,
  CommandError,
  isoDate,
  positiveInteger,
  printTable,
  withStore,
  type StoreFlags,
} from "./store-command.js";

interface CreateFlags extends StoreFlags {
  user: string;
  name: string;
  rpm?: number;
  tpm?: number;
  concurrency?: number;
  quotaTokens?: number;
  quotaRequests?: number;
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command("keys").description("create, list and revoke API keys");

  addStoreOptions(
    keys
      .command("create")
      .description("create an API key and print it on stdout (it is shown once); limits default to none")
      .requiredOption("--user <name>", "the user the key belongs to")
      .option("--name <name>", "a name to tell the user's keys apart", "default")
      .option("--rpm <n>", "requests per minute", positiveInteger)
      .option("--tpm <n>", "tokens (prompt + completion) per minute", positiveInteger)
      .option("--concurrency <n>", "requests in flight at once", positiveInteger)
      .option("--quota-tokens <n>", "tokens the key may use in all", positiveInteger)
      .option("--quota-requests <n>", "requests the key may make in all", positiveInteger),
  ).action(async (flags: CreateFlags) => {
    if (flags.name.trim() === "") throw new CommandError("--name cannot be empty.");
    await withStore(flags, async (store) => {
      const user = await requireUser(store, flags.user);
      if (user.disabled) {
        throw new CommandError(`User ${user.name} is disabled, so a key of theirs would not work.`);
      }
      const limits: ApiKeyLimits = {
        rpm: flags.rpm,
        tpm: flags.tpm,
        maxConcurrent: flags.concurrency,
        quotaTokens: flags.quotaTokens,
        quotaRequests: flags.quotaRequests,
      };
      const { key, plaintext } = await store.apiKeys.create({ userId: user.id, name: flags.name, ...limits });
      // The key alone on stdout, so `KEY=$(qiusuo keys create --user alice)` captures just it.
      console.log(plaintext);
      console.error(
        `API key ${key.name} for ${user.name} (id ${key.id}; limits: ${formatLimits(key)}). ` +
          "It is shown once; store it now.",
      );
    });
  });

  addStoreOptions(
    keys
      .command("ls")
      .description("list API keys with their limits and usage")
      .option("--user <name>", "only this user's keys")
      .option("--all", "include revoked keys")
      .option("--json", "print JSON instead of a table"),
  ).action(async (flags: StoreFlags & { user?: string; all?: boolean; json?: boolean }) => {
    await withStore(flags, async (store) => {
      const owner = flags.user === undefined ? undefined : await requireUser(store, flags.user);
      const list = await store.apiKeys.list({ userId: owner?.id, includeRevoked: flags.all === true });
      const usersById = new Map((await store.users.list()).map((user) => [user.id, user]));
      const rows = list.map((key) => ({ key, user: usersById.get(key.userId) }));
      if (flags.json) {
        console.log(
          JSON.stringify(
            rows.map(({ key, user }) => keyJson(key, user)),
            null,
            2,
          ),
        );
        return;
      }
      if (rows.length === 0) {
        console.log(
          `No ${flags.all ? "" : "active "}keys${owner ? ` for ${owner.name}` : ""}. ` +
            "Create one with `qiusuo keys create --user NAME`.",
        );
        return;
      }
      printTable([
        ["ID", "NAME", "USER", "PREFIX", "LIMITS", "USED", "STATUS", "CREATED"],
        ...rows.map(({ key, user }) => [
          key.id,
          key.name,
          user?.name ?? key.userId,
          `${key.prefix}…`,
          formatLimits(key),
          `${key.usedTokens} tokens, ${key.usedRequests} requests`,
          keyStatus(key, user),
          isoDate(key.createdAt),
        ]),
      ]);
    });
  });

  addStoreOptions(
    keys
      .command("revoke")
      .description("revoke an API key by id or name; a running server refuses it from the next request")
      .argument("<key>", "the key's id, or its name when that names one active key")
      .option("--user <name>", "look only among this user's keys"),
  ).action(async (idOrName: string, flags: StoreFlags & { user?: string }) => {
    await withStore(flags, async (store) => {
      const owner = flags.user === undefined ? undefined : await requireUser(store, flags.user);
      // An ambiguous name is refused by the store with a message that says what to do.
      const key = await store.apiKeys.revoke(idOrName, { userId: owner?.id });
      if (!key) {
        throw new CommandError(
          `No active key has the id or name "${idOrName}"${owner ? ` among ${owner.name}'s keys` : ""}. ` +
            "See `qiusuo keys ls`.",
        );
      }
      const user = owner ?? (await store.users.findById(key.userId));
      console.log(`revoked key ${key.name} (id ${key.id}) of ${user?.name ?? key.userId}`);
    });
  });
}

/** The user named `name` (or with that id). */
async function requireUser(store: Store, name: string): Promise<User> {
  const user = (await store.users.findByName(name)) ?? (await store.users.findById(name));
  if (!user)
    throw new CommandError(
      `No user "${name}". See \`qiusuo users ls\`, or add one with \`qiusuo users add\`.`,
    );
  return user;
}

/** `active`, `revoked`, or `user disabled` for a key that is not revoked but cannot be used either. */
function keyStatus(key: ApiKey, user: User | undefined): string {
  if (key.revokedAt) return "revoked";
  return user?.disabled ? "user disabled" : "active";
}

function formatLimits(key: ApiKey): string {
  const limits = [
    key.rpm === null ? undefined : `${key.rpm} rpm`,
    key.tpm === null ? undefined : `${key.tpm} tpm`,
    key.maxConcurrent === null ? undefined : `${key.maxConcurrent} concurrent`,
    key.quotaTokens === null ? undefined : `quota ${key.quotaTokens} tokens`,
    key.quotaRequests === null ? undefined : `quota ${key.quotaRequests} requests`,
  ].filter((limit) => limit !== undefined);
  return limits.length === 0 ? "none" : limits.join(", ");
}

function keyJson(key: ApiKey, user: User | undefined) {
  return {
    ...shownKeyFields(key),
    userId: key.userId,
    user: user?.name ?? null,
    status: keyStatus(key, user),
    revokedAt: key.revokedAt?.toISOString() ?? null,
    createdAt: key.createdAt.toISOString(),
  };
}
