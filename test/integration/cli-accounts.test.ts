// `qiusuo users` and `qiusuo keys`, run as built, against a temporary data dir; what they did is
// checked by opening the same store. One test runs them on PostgreSQL through DATABASE_URL when
// QIUSUO_TEST_DATABASE_URL names a database (.ci/run starts one).
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { openStore, type Store, type StoreOptions } from "../../src/store/store.js";
import { cli, runQiusuo, type CliResult } from "./cli-process.js";
import { postgresEngine, postgresUrl } from "./store-engines.js";

/** Exit code 1, a message matching `message`, and no stack trace. */
function assertFails(result: CliResult, message: RegExp): void {
  assert.equal(result.status, 1, `expected exit 1:\n${result.stdout}\n${result.stderr}`);
  assert.match(result.stderr, message);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
  assert.equal(result.stdout, "");
}

async function withStore<T>(options: StoreOptions, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(options);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

describe("qiusuo users and keys", () => {
  let dataDir: string;
  /** Runs a command against the test's data dir. */
  const run = (args: string[], input?: string) => runQiusuo([...args, "--data-dir", dataDir], { input });
  const inStore = <T>(work: (store: Store) => Promise<T>) => withStore({ dataDir }, work);
  /** Creates a key through the CLI and returns its plaintext. */
  const createKey = (args: string[]) => {
    const result = run(["keys", "create", ...args]);
    assert.equal(result.status, 0, result.stderr);
    return result.stdout.trim();
  };

  before(async () => {
    assert.ok(existsSync(cli), "run `npm run build` first (npm test does)");
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-accounts-"));
  });
  after(() => fs.rm(dataDir, { recursive: true, force: true }));

  it("users add --admin --password-stdin creates an admin whose password verifies", async () => {
    const result = run(["users", "add", "alice", "--admin", "--password-stdin"], "correct horse\n");
    assert.equal(result.status, 0, result.stderr);
    const id = /^created user alice \(admin\) id=(\S+)\n$/.exec(result.stdout)?.[1];
    assert.ok(id, result.stdout);
    await inStore(async (store) => {
      const user = await store.users.verifyPassword("alice", "correct horse");
      assert.equal(user?.id, id, "the password is what came on stdin, less its newline");
      assert.equal(user?.role, "admin");
    });
  });

  it("users add without a password makes a user who can only use API keys", async () => {
    const result = run(["users", "add", "bob"]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^created user bob \(user\) id=\S+\n$/);
    await inStore(async (store) => {
      const user = await store.users.findByName("bob");
      assert.equal(user?.role, "user");
      assert.equal(user?.hasPassword, false);
    });
  });

  it("users add refuses a taken name, an empty password and a short one", async () => {
    assertFails(run(["users", "add", "alice"]), /A user named "alice" already exists/);
    assertFails(run(["users", "add", "carl", "--password-stdin"], "\n"), /empty password/);
    assertFails(run(["users", "add", "carl", "--password-stdin"], "seven7\n"), /at least 8 characters/);
    await inStore(async (store) => {
      assert.equal(await store.users.findByName("carl"), undefined);
      assert.equal((await store.users.findByName("alice"))?.role, "admin", "alice is unchanged");
    });
  });

  it("users ls prints a table, and JSON with --json", async () => {
    const alice = await inStore(async (store) => (await store.users.findByName("alice"))!);
    const table = run(["users", "ls"]);
    assert.equal(table.status, 0, table.stderr);
    const lines = table.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^NAME\s+ROLE\s+STATUS\s+CREATED\s+ID$/);
    const aliceLine = lines.find((line) => line.startsWith("alice "));
    assert.ok(aliceLine, table.stdout);
    assert.deepEqual(aliceLine.split(/\s+/), [
      "alice",
      "admin",
      "active",
      alice.createdAt.toISOString().slice(0, 10),
      alice.id,
    ]);

    const json = run(["users", "ls", "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const users = JSON.parse(json.stdout) as any[];
    const byName = new Map(users.map((user) => [user.name, user]));
    assert.deepEqual(
      { ...byName.get("alice") },
      {
        id: alice.id,
        name: "alice",
        role: "admin",
        status: "active",
        hasPassword: true,
        createdAt: alice.createdAt.toISOString(),
      },
    );
    assert.equal(byName.get("bob").hasPassword, false);
  });

  it("users disable disables the user, and their keys show as unusable", async () => {
    assert.equal(run(["users", "add", "dora"]).status, 0);
    createKey(["--user", "dora", "--name", "dora-key"]);
    const result = run(["users", "disable", "dora"]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /disabled user dora/);
    await inStore(async (store) => assert.equal((await store.users.findByName("dora"))?.disabled, true));

    const users = JSON.parse(run(["users", "ls", "--json"]).stdout) as any[];
    assert.equal(users.find((user) => user.name === "dora").status, "disabled");
    const keys = JSON.parse(run(["keys", "ls", "--user", "dora", "--json"]).stdout) as any[];
    assert.deepEqual(
      keys.map((key) => [key.name, key.status]),
      [["dora-key", "user disabled"]],
    );
    assertFails(run(["keys", "create", "--user", "dora"]), /dora is disabled/);
    assertFails(run(["users", "disable", "nobody"]), /No user "nobody"/);
  });

  it("keys create prints only the key on stdout, stored with the limits given", async () => {
    const result = run([
      "keys",
      "create",
      "--user",
      "alice",
      "--name",
      "laptop",
      "--rpm",
      "60",
      "--tpm",
      "10000",
      "--concurrency",
      "2",
      "--quota-tokens",
      "1000000",
      "--quota-requests",
      "500",
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /^sk-[0-9a-f]{64}\n$/, "the key alone, so $(...) captures it");
    assert.match(result.stderr, /shown once; store it now/);
    const plaintext = result.stdout.trim();
    await inStore(async (store) => {
      const key = await store.apiKeys.findByPlaintext(plaintext);
      assert.ok(key);
      assert.match(result.stderr, new RegExp(key.id));
      assert.equal(key.userId, (await store.users.findByName("alice"))?.id);
      assert.deepEqual(
        [key.name, key.rpm, key.tpm, key.maxConcurrent, key.quotaTokens, key.quotaRequests, key.revokedAt],
        ["laptop", 60, 10000, 2, 1000000, 500, null],
      );
    });

    const plain = await inStore(async (store) => store.apiKeys.findByPlaintext(createKey(["--user", "bob"])));
    assert.deepEqual(
      [plain?.name, plain?.rpm, plain?.tpm, plain?.maxConcurrent, plain?.quotaTokens, plain?.quotaRequests],
      ["default", null, null, null, null, null],
      "named default, with no limits",
    );
  });

  it("keys create refuses an unknown user and numbers that are not positive integers", async () => {
    const count = () => inStore(async (store) => (await store.apiKeys.list({ includeRevoked: true })).length);
    const before = await count();
    assertFails(run(["keys", "create", "--user", "nobody"]), /No user "nobody"/);
    for (const [flag, value] of [
      ["--rpm", "abc"],
      ["--tpm", "0"],
      ["--concurrency", "1.5"],
      ["--quota-tokens", "-3"],
      ["--quota-requests", "1e3"],
    ] as const) {
      assertFails(run(["keys", "create", "--user", "alice", flag, value]), new RegExp(flag));
    }
    assert.equal(await count(), before, "no key was made");
  });

  it("keys ls lists active keys, revoked ones too with --all, as a table or JSON", async () => {
    const plaintext = createKey(["--user", "bob", "--name", "listed", "--rpm", "7"]);
    const key = await inStore(async (store) => (await store.apiKeys.findByPlaintext(plaintext))!);
    const table = run(["keys", "ls", "--user", "bob"]);
    assert.equal(table.status, 0, table.stderr);
    assert.match(table.stdout, /^ID\s+NAME\s+USER\s+PREFIX\s+LIMITS\s+USED\s+STATUS\s+CREATED\n/);
    const line = table.stdout.split("\n").find((row) => row.startsWith(key.id));
    assert.ok(line, table.stdout);
    assert.match(
      line,
      new RegExp(
        `^${key.id}\\s+listed\\s+bob\\s+${plaintext.slice(0, 11)}…\\s+7 rpm\\s+0 tokens, 0 requests\\s+active\\s+`,
      ),
    );
    assert.doesNotMatch(table.stdout, /alice/, "--user shows only bob's keys");

    assert.equal(run(["keys", "revoke", key.id]).status, 0);
    assert.ok(!run(["keys", "ls"]).stdout.includes(key.id), "revoked keys are hidden");
    assert.match(run(["keys", "ls", "--all"]).stdout, new RegExp(`${key.id}.*revoked`));

    const json = JSON.parse(run(["keys", "ls", "--all", "--json"]).stdout) as any[];
    const listed = json.find((entry) => entry.id === key.id);
    assert.equal(listed.user, "bob");
    assert.equal(listed.prefix, plaintext.slice(0, 11));
    assert.equal(listed.rpm, 7);
    assert.equal(listed.status, "revoked");
    assert.ok(!JSON.stringify(json).includes(plaintext), "the key itself is never listed");
    assertFails(run(["keys", "ls", "--user", "nobody"]), /No user "nobody"/);
  });

  it("keys revoke by name and by id; an ambiguous name or no match is an error", async () => {
    const byName = createKey(["--user", "alice", "--name", "ci"]);
    const revoked = run(["keys", "revoke", "ci"]);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(revoked.stdout, /revoked key ci/);
    const findKey = (plaintext: string) =>
      inStore(async (store) => (await store.apiKeys.findByPlaintext(plaintext))!);
    assert.ok((await findKey(byName)).revokedAt, "revoked by name");

    const first = createKey(["--user", "alice", "--name", "shared"]);
    const second = createKey(["--user", "alice", "--name", "shared"]);
    assertFails(run(["keys", "revoke", "shared"]), /2 active keys are named "shared"; revoke one by its id/);
    assert.equal((await findKey(first)).revokedAt, null, "nothing revoked");
    assert.equal((await findKey(second)).revokedAt, null, "nothing revoked");

    const firstKey = await findKey(first);
    assert.equal(run(["keys", "revoke", firstKey.id]).status, 0);
    assert.ok((await findKey(first)).revokedAt, "revoked by id");
    assert.equal((await findKey(second)).revokedAt, null);

    // The same name for another user: --user picks among that user's keys only.
    const bobs = createKey(["--user", "bob", "--name", "shared"]);
    assert.equal(run(["keys", "revoke", "shared", "--user", "bob"]).status, 0);
    assert.ok((await findKey(bobs)).revokedAt);
    assert.equal((await findKey(second)).revokedAt, null, "alice's key is untouched");

    assertFails(run(["keys", "revoke", "no-such-key"]), /No active key has the id or name "no-such-key"/);
    assertFails(run(["keys", "revoke", firstKey.id]), /No active key/);
  });

  it("honours DATABASE_URL", { skip: !postgresUrl && "QIUSUO_TEST_DATABASE_URL is not set" }, async () => {
    const engine = postgresEngine(postgresUrl!);
    const emptyDir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-accounts-pg-"));
    try {
      const { databaseUrl } = await engine.fresh();
      const env = { DATABASE_URL: databaseUrl! };
      const added = runQiusuo(["users", "add", "pat", "--data-dir", emptyDir], { env });
      assert.equal(added.status, 0, added.stderr);
      const created = runQiusuo(["keys", "create", "--user", "pat", "--rpm", "5", "--data-dir", emptyDir], {
        env,
      });
      assert.equal(created.status, 0, created.stderr);
      assert.equal(existsSync(path.join(emptyDir, "qiusuo.db")), false, "SQLite was not used");
      await withStore({ dataDir: emptyDir, databaseUrl }, async (store) => {
        const key = await store.apiKeys.findByPlaintext(created.stdout.trim());
        assert.equal(key?.rpm, 5);
        assert.equal(key?.userId, (await store.users.findByName("pat"))?.id);
      });
    } finally {
      await engine.cleanup();
      await fs.rm(emptyDir, { recursive: true, force: true });
    }
  });
});
