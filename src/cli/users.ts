/** `qiusuo users add|ls|disable`: the accounts of a server with auth on. */
import type { Command } from "commander";
import { StoreError } from "../store/store-error.js";
import type { User } from "../store/users.js";
import {
  addStoreOptions,
  CommandError,
  isoDate,
  printTable,
  withStore,
  type StoreFlags,
} from "./store-command.js";

const MIN_PASSWORD_LENGTH = 8;

export function registerUsersCommand(program: Command): void {
  const users = program.command("users").description("add, list and disable users");

  addStoreOptions(
    users
      .command("add")
      .description("create a user; without --password-stdin they can only use API keys")
      .argument("<name>", "the user's login name")
      .option("--admin", "make the user an admin")
      .option(
        "--password-stdin",
        `read the password (at least ${MIN_PASSWORD_LENGTH} characters) from stdin`,
      ),
  ).action(async (name: string, flags: StoreFlags & { admin?: boolean; passwordStdin?: boolean }) => {
    if (name.trim() === "" || name !== name.trim()) {
      throw new CommandError(`A user name cannot be empty or begin or end with spaces; got "${name}".`);
    }
    const password = flags.passwordStdin ? await readPassword() : undefined;
    await withStore(flags, async (store) => {
      const role = flags.admin ? "admin" : "user";
      const user = await store.users.create({ name, role, password }).catch((error: unknown) => {
        if (error instanceof StoreError && error.code === "user_exists") {
          throw new CommandError(`${error.message} Pick another name, or see \`qiusuo users ls\`.`);
        }
        throw error;
      });
      console.log(`created user ${user.name} (${user.role}) id=${user.id}`);
    });
  });

  addStoreOptions(
    users.command("ls").description("list users").option("--json", "print JSON instead of a table"),
  ).action(async (flags: StoreFlags & { json?: boolean }) => {
    await withStore(flags, async (store) => {
      const list = await store.users.list();
      if (flags.json) {
        console.log(JSON.stringify(list.map(userJson), null, 2));
        return;
      }
      if (list.length === 0) {
        console.log("No users. Create one with `qiusuo users add NAME --admin --password-stdin`.");
        return;
      }
      printTable([
        ["NAME", "ROLE", "STATUS", "CREATED", "ID"],
        ...list.map((user) => [user.name, user.role, userStatus(user), isoDate(user.createdAt), user.id]),
      ]);
    });
  });

  addStoreOptions(
    users
      .command("disable")
      .description("disable a user: they can no longer log in, and their API keys stop working at once")
      .argument("<name>", "the user's name (or id)"),
  ).action(async (name: string, flags: StoreFlags) => {
    await withStore(flags, async (store) => {
      const user = await store.users.disable(name).catch((error: unknown) => {
        if (error instanceof StoreError && error.code === "user_not_found") {
          throw new CommandError(`${error.message} See \`qiusuo users ls\`.`);
        }
        throw error;
      });
      console.log(`disabled user ${user.name}; their API keys no longer work`);
    });
  });
}

function userStatus(user: User): string {
  return user.disabled ? "disabled" : "active";
}

function userJson(user: User) {
  return {
    id: user.id,
    name: user.name,
    role: user.role,
    status: userStatus(user),
    hasPassword: user.hasPassword,
    createdAt: user.createdAt.toISOString(),
  };
}

/** The whole of stdin less one trailing newline, so `echo "$PASSWORD" |` and files both work. */
async function readPassword(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write("Password (end with Enter, then Ctrl-D): ");
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
  if (password === "") {
    throw new CommandError("--password-stdin read an empty password; pipe one in, for example from a file.");
  }
  if ([...password].length < MIN_PASSWORD_LENGTH) {
    throw new CommandError(`The password is too short: use at least ${MIN_PASSWORD_LENGTH} characters.`);
  }
  return password;
}
