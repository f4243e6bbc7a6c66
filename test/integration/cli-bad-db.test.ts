// A database qiusuo cannot open stops `serve` and the account commands with a message that names
// the file and says what to do: exit code 1, no stack trace, no bare SQLite message.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runQiusuo } from "./cli-process.js";

/** The commands that open the store, each run against `dataDir`. */
const commands: Array<{ name: string; args: (dataDir: string) => string[] }> = [
  { name: "serve", args: (dataDir) => ["serve", "--data-dir", dataDir, "--port", "0", "--gpu", "off"] },
  { name: "users ls", args: (dataDir) => ["users", "ls", "--data-dir", dataDir] },
  { name: "keys create", args: (dataDir) => ["keys", "create", "--user", "alice", "--data-dir", dataDir] },
];

function assertClearFailure(result: ReturnType<typeof runQiusuo>, path: string, advice: RegExp): void {
  assert.equal(result.status, 1, `exit code; stderr: ${result.stderr}`);
  assert.ok(result.stderr.includes(`Cannot open the database ${path}`), result.stderr);
  assert.match(result.stderr, advice);
  assert.match(result.stderr, /--data-dir or QIUSUO_DATA_DIR/);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack trace");
  assert.equal(result.stdout, "");
}

describe("a database qiusuo cannot open", () => {
  let root: string;
  before(() => {
    root = mkdtempSync(join(tmpdir(), "qiusuo-bad-db-"));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const command of commands) {
    it(`${command.name}: a qiusuo.db that is not a database says restore or move it away`, () => {
      const dataDir = join(root, `garbage-${command.name.replace(" ", "-")}`);
      mkdirSync(dataDir);
      writeFileSync(join(dataDir, "qiusuo.db"), "this is not a SQLite database, just text. ".repeat(100));
      const result = runQiusuo(command.args(dataDir), { env: { QIUSUO_NO_PULL: "1" } });
      assertClearFailure(
        result,
        join(dataDir, "qiusuo.db"),
        /file is not a database \(SQLITE_NOTADB\)\.\nThe file is damaged or is not a SQLite database: restore it from a backup, or move it away/,
      );
    });

    // Tests run as root, where permissions do not stop anyone: a data dir under a file does.
    it(`${command.name}: a data dir that cannot be made says check the directory`, () => {
      const file = join(root, `a-file-${command.name.replace(" ", "-")}`);
      writeFileSync(file, "");
      const dataDir = join(file, "data");
      const result = runQiusuo(command.args(dataDir), { env: { QIUSUO_NO_PULL: "1" } });
      assertClearFailure(
        result,
        join(dataDir, "qiusuo.db"),
        /ENOTDIR.*\nCheck that the data directory is a directory, that this user may read and write it/,
      );
    });
  }

  it("a qiusuo.db that is a directory says check the directory", () => {
    const dataDir = join(root, "db-is-a-directory");
    mkdirSync(join(dataDir, "qiusuo.db"), { recursive: true });
    const result = runQiusuo(["users", "ls", "--data-dir", dataDir]);
    assertClearFailure(
      result,
      join(dataDir, "qiusuo.db"),
      /\(SQLITE_CANTOPEN\)\.\nCheck that the data directory/,
    );
  });
});
