/** Users: create with a scrypt-hashed password, find, list, disable, verify a password. */
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

  /** Disables the user by id or name; their keys and sessions stop working with them. */
  async disable(idOrName: string): Promise<User> {
    const user = (await this.findById(idOrName)) ?? (await this.findByName(idOrName));
    if (!user) throw new StoreError("user_not_found", `No user "${idOrName}".`);
    if (user.disabled) return user;
    await this.db.updateTable("users").set({ disabled_at: Date.now() }).where("id", "=", user.id).execute();
    return { ...user, disabled: true };
  }

  /**
   * The user when `password` is theirs and they are not disabled; otherwise undefined. Unknown
   * names cost a hash too, so timing does not tell which names exist.
   */
  async verifyPassword(name: string, password: string): Promise<User | undefined> {
    const row = await this.db.selectFrom("users").selectAll().where("name", "=", name).executeTakeFirst();
    const matches = await verifyPassword(password, row?.password_hash ?? (await unknownUserHash()));
    return row && row.password_hash !== null && row.disabled_at === null && matches ? toUser(row) : undefined;
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
