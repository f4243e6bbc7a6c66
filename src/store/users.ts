/**
 * Users: create with a scrypt-hashed password, find, list, change role, disable or enable, reset a
 * password, verify a password.
 */
import { randomUUID } from "node:crypto";
import type { Kysely, Selectable } from "kysely";
import type { StoreDialect } from "./dialects.js";
import { hashPassword, verifyPassword } from "./password-hash.js";
import type { Database, UsersTable } from "./schema.js";
import { StoreError } from "./store-error.js";

export type Role = "admin" | "user";

export interface User {
  id: string;
  name: string;
  role: Role;
  /** Whether the user has a password; users without one cannot log in (local mode's user). */
  hasPassword: boolean;
  disabled: boolean;
  createdAt: Date;
}

/** What an admin may change about a user; absent fields stay as they are. */
export interface UserChanges {
  role?: Role;
  disabled?: boolean;
}

export interface NewUser {
  name: string;
  /** Default `user`. */
  role?: Role;
  /** Plaintext; only its scrypt hash is stored. Omit for a user who never logs in. */
  password?: string;
}

export class UserRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: StoreDialect,
  ) {}

  /** Throws `StoreError("user_exists")` when the name is taken. */
  async create(user: NewUser): Promise<User> {
    const row = {
      id: randomUUID(),
      name: user.name,
      role: user.role ?? "user",
      password_hash: user.password === undefined ? null : await hashPassword(user.password),
      disabled_at: null,
      created_at: Date.now(),
    };
    try {
      await this.db.insertInto("users").values(row).execute();
    } catch (error) {
      if (this.dialect.isUniqueViolation(error)) {
        throw new StoreError("user_exists", `A user named "${user.name}" already exists.`, { cause: error });
      }
      throw error;
    }
    return toUser(row);
  }

  async findById(id: string): Promise<User | undefined> {
    const row = await this.db.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
    return row && toUser(row);
  }

  async findByName(name: string): Promise<User | undefined> {
    const row = await this.db.selectFrom("users").selectAll().where("name", "=", name).executeTakeFirst();
    return row && toUser(row);
  }

  /** Every user, oldest first. */
  async list(): Promise<User[]> {
    const rows = await this.db
      .selectFrom("users")
      .selectAll()
      .orderBy("created_at")
      .orderBy("name")
      .execute();
    return rows.map(toUser);
  }

  async count(): Promise<number> {
    const { count } = await this.db
      .selectFrom("users")
      .select((eb) => eb.fn.countAll<number>().as("count"))
      .executeTakeFirstOrThrow();
    return Number(count);
  }

  /**
   * Disables the user by id or name; their keys stop working with them and their sessions end.
   * Unguarded, as the CLI's way back in: `update` is the one that keeps an active admin.
   */
  async disable(idOrName: string): Promise<User> {
    const user = (await this.findById(idOrName)) ?? (await this.findByName(idOrName));
    if (!user) throw new StoreError("user_not_found", `No user "${idOrName}".`);
    if (user.disabled) return user;
    await this.db.transaction().execute(async (transaction) => {
      await transaction
        .updateTable("users")
        .set({ disabled_at: Date.now() })
        .where("id", "=", user.id)
        .execute();
      await transaction.deleteFrom("sessions").where("user_id", "=", user.id).execute();
    });
    return { ...user, disabled: true };
  }

  /**
   * Changes a user's role or state. Disabling ends their sessions. Throws `user_not_found`, or
   * `last_admin` when the change would leave no active admin (nothing is changed then).
   */
  async update(id: string, changes: UserChanges): Promise<User> {
    return this.db.transaction().execute(async (transaction) => {
      // A no-op write to every active admin takes their row locks (PostgreSQL), so two admins
      // demoting each other at once wait in turn and the second sees the first's change.
      await transaction
        .updateTable("users")
        .set((eb) => ({ role: eb.ref("role") }))
        .where("role", "=", "admin")
        .where("disabled_at", "is", null)
        .execute();
      const row = await transaction.selectFrom("users").selectAll().where("id", "=", id).executeTakeFirst();
      if (!row) throw new StoreError("user_not_found", `No user "${id}".`);
      const disabledAt =
        changes.disabled === undefined
          ? row.disabled_at
          : changes.disabled
            ? (row.disabled_at ?? Date.now())
            : null;
      const updated = { ...row, role: changes.role ?? row.role, disabled_at: disabledAt };
      await transaction
        .updateTable("users")
        .set({ role: updated.role, disabled_at: updated.disabled_at })
        .where("id", "=", id)
        .execute();
      if (updated.disabled_at !== null)
        await transaction.deleteFrom("sessions").where("user_id", "=", id).execute();
      const { admins } = await transaction
        .selectFrom("users")
        .select((eb) => eb.fn.countAll<number>().as("admins"))
        .where("role", "=", "admin")
        .where("disabled_at", "is", null)
        .executeTakeFirstOrThrow();
      if (Number(admins) === 0) {
        throw new StoreError(
          "last_admin",
          `"${row.name}" is the last active admin; make another user an admin first.`,
        );
      }
      return toUser(updated);
    });
  }

  /** Sets a new password and ends the user's sessions, so whoever knew the old one is logged out. */
  async setPassword(id: string, password: string): Promise<void> {
    const passwordHash = await hashPassword(password);
    await this.db.transaction().execute(async (transaction) => {
      const result = await transaction
        .updateTable("users")
        .set({ password_hash: passwordHash })
        .where("id", "=", id)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) throw new StoreError("user_not_found", `No user "${id}".`);
      await transaction.deleteFrom("sessions").where("user_id", "=", id).execute();
    });
  }

  /**
   * When each user was last seen, by user id: their latest session use or ledger row, whichever
   * is later. Users with neither (or whose sessions have been pruned) are absent.
   */
  async lastActive(): Promise<Map<string, Date>> {
    const [sessions, usage] = await Promise.all([
      this.db
        .selectFrom("sessions")
        .select(["user_id", (eb) => eb.fn.max("last_seen_at").as("at")])
        .groupBy("user_id")
        .execute(),
      this.db
        .selectFrom("usage")
        .select(["user_id", (eb) => eb.fn.max("created_at").as("at")])
        .groupBy("user_id")
        .execute(),
    ]);
    const latest = new Map<string, Date>();
    for (const { user_id, at } of [...sessions, ...usage]) {
      const time = Number(at);
      if (time > (latest.get(user_id)?.getTime() ?? 0)) latest.set(user_id, new Date(time));
    }
    return latest;
  }

  /**
   * The user when `password` is theirs and they are not disabled; otherwise undefined. Unknown
   * names cost a hash too, so timing does not tell which names exist.
   */
  async verifyPassword(name: string, password: string): Promise<User | undefined> {
    const user = await this.findByPassword(name, password);
    return user && !user.disabled ? user : undefined;
  }

  /**
   * The user when `password` is theirs, disabled or not, so a login can say the account is
   * disabled to the one person who knows its password. Unknown names cost a hash too.
   */
  async findByPassword(name: string, password: string): Promise<User | undefined> {
    const row = await this.db.selectFrom("users").selectAll().where("name", "=", name).executeTakeFirst();
    const matches = await verifyPassword(password, row?.password_hash ?? (await unknownUserHash()));
    return row && row.password_hash !== null && matches ? toUser(row) : undefined;
  }
}

let dummyHash: Promise<string> | undefined;
/** A hash to check against when the name is unknown, made once. */
function unknownUserHash(): Promise<string> {
  dummyHash ??= hashPassword("not a password anyone has");
  return dummyHash;
}

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    hasPassword: row.password_hash !== null,
    disabled: row.disabled_at !== null,
    createdAt: new Date(Number(row.created_at)),
  };
}
