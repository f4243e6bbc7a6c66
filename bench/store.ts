/**
 * The store's costs per request: `npx tsx bench/store.ts [--json] [--conversations N]`.
 * - key admission (lock the key, check quota and limits, record the admission) and its finish,
 *   on SQLite and, when DATABASE_URL or QIUSUO_TEST_DATABASE_URL names one, PostgreSQL;
 * - what API keys and the usage ledger add to a whole chat request over HTTP (scripted model):
 *   accounts mode with a key against local mode without one, same server code;
 * - full-text search over N conversations of 10 messages, per query: Chinese and English terms
 *   each in thousands of messages (the newest 20 returned) and a number in ten of them.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { sql } from "kysely";
import pg from "pg";
import { openStore, type Store, type StoreOptions } from "../src/store/store.js";
import { postJson, startTestServer } from "../test/integration/harness.js";

const { values } = parseArgs({
  options: {
    json: { type: "boolean", default: false },
    conversations: { type: "string", default: "2000" },
    rounds: { type: "string", default: "300" },
  },
});
const conversationCount = Number(values.conversations);
const rounds = Number(values.rounds);
const postgresUrl = process.env.DATABASE_URL || process.env.QIUSUO_TEST_DATABASE_URL;
type Row = [metric: string, measured: string, target: string, met: string];
const rows: Row[] = [];
const log = (line: string) => (values.json ? process.stderr : process.stdout).write(`${line}\n`);

function stats(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p95: at(0.95) };
}
const msText = (value: number) => `${value.toFixed(value < 10 ? 2 : 1)} ms`;

/** A fresh database per engine: a temp dir for SQLite, a new database for PostgreSQL. */
async function engines(): Promise<Array<{ name: string; options: StoreOptions; drop: () => Promise<void> }>> {
  const dir = mkdtempSync(join(tmpdir(), "qiusuo-bench-store-"));
  const list = [
    {
      name: "SQLite",
      options: { dataDir: dir },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    },
  ];
  if (postgresUrl) {
    const admin = new pg.Client({ connectionString: postgresUrl });
    await admin.connect();
    const database = `qiusuo_bench_${Date.now()}`;
    await admin.query(`create database ${database}`);
    const url = new URL(postgresUrl);
    url.pathname = `/${database}`;
    list.push({
      name: "PostgreSQL",
      options: { dataDir: dir, databaseUrl: url.toString() } as StoreOptions & { dataDir: string },
      drop: async () => {
        // pg's pool.end() can resolve before its connections have closed: wait for them, since
        // forcing them closed reaches the ended pool as an unhandled error and kills the bench.
        for (let attempt = 1; ; attempt++) {
          try {
            await admin.query(`drop database ${database}`);
            break;
          } catch (error) {
            if (attempt === 50) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
        await admin.end();
      },
    });
  } else log("PostgreSQL skipped: set DATABASE_URL or QIUSUO_TEST_DATABASE_URL");
  return list;
}

async function admissions(store: Store): Promise<{ median: number; p95: number }> {
  const user = await store.users.create({ name: `bench-${Date.now()}` });
  const { key } = await store.apiKeys.create({
    userId: user.id,
    name: "bench",
    rpm: 1_000_000,
    maxConcurrent: 100,
  });
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    const admission = await store.keyAdmissions.admit(key.id);
    if (!admission.admitted) throw new Error(`not admitted: ${admission.reason}`);
    await store.keyAdmissions.finish(admission.requestId, 100);
    samples.push(performance.now() - started);
  }
  return stats(samples);
}

const WORDS = ["quantum", "compiler", "garden", "recipe", "orbit", "lattice", "violin", "harbor"];
const PHRASES = [
  "我们今天讨论量子计算的基本原理",
  "请解释薛定谔方程在化学中的应用",
  "杭州的西湖在春天很美",
  "如何用递归写二分查找",
];

async function search(
  store: Store,
): Promise<Record<"chinese" | "english" | "rare", { median: number; p95: number }>> {
  const user = await store.users.create({ name: `search-${Date.now()}` });
  const batch = 200;
  for (let start = 0; start < conversationCount; start += batch) {
    const conversations = Array.from({ length: Math.min(batch, conversationCount - start) }, (_, offset) => {
      const index = start + offset;
      const messages = Array.from({ length: 10 }, (_, turn) => ({
        id: `m${turn}`,
        parentId: turn === 0 ? null : `m${turn - 1}`,
        role: (turn % 2 === 0 ? "user" : "assistant") as "user" | "assistant",
        content: `${PHRASES[(index + turn) % PHRASES.length]} ${WORDS[(index * 7 + turn) % WORDS.length]} item ${index}-${turn}`,
        createdAt: 1_700_000_000_000 + index * 1000 + turn,
      }));
      return {
        title: `chat ${index}`,
        createdAt: 1_700_000_000_000 + index * 1000,
        updatedAt: 1_700_000_000_000 + index * 1000 + 9,
        messages,
      };
    });
    await store.conversations.importConversations(user.id, conversations);
  }
  // A live PostgreSQL has statistics (autovacuum analyzes after bulk changes) and plans by them;
  // straight after the import it may not have them yet. Measure the steady state. (SQLite keeps
  // none unless told to, and qiusuo never tells it.)
  if (store.kind === "postgres") await sql`analyze conversations, messages`.execute(store.db);
  const time = async (query: string) => {
    const samples: number[] = [];
    for (let round = 0; round < 30; round++) {
      const started = performance.now();
      const hits = await store.conversations.search(user.id, query, { limit: 20 });
      samples.push(performance.now() - started);
      if (hits.length === 0) throw new Error(`no hits for ${query}`);
    }
    return stats(samples);
  };
  return { chinese: await time("方程"), english: await time("lattice"), rare: await time("1234") };
}

/** Median latency of a non-streamed chat over HTTP: accounts mode with a key vs local mode. */
async function requestOverhead(): Promise<{ keyed: number; local: number }> {
  const body = { model: "deepseek-chat", messages: [{ role: "user", content: "hi" }] };
  const measure = async (accounts: boolean) => {
    const server = await startTestServer({ accounts });
    try {
      const headers: Record<string, string> = {};
      if (accounts) {
        const user = await server.store.users.create({
          name: "bench",
          role: "admin",
          password: "bench password",
        });
        headers.authorization = `Bearer ${(await server.store.apiKeys.create({ userId: user.id, name: "bench" })).plaintext}`;
      }
      const samples: number[] = [];
      for (let round = 0; round < 20 + 100; round++) {
        const started = performance.now();
        const response = await postJson(`${server.url}/v1/chat/completions`, body, headers);
        if (response.status !== 200) throw new Error(response.text);
        if (round >= 20) samples.push(performance.now() - started);
      }
      return stats(samples).median;
    } finally {
      await server.close();
    }
  };
  // Interleave twice so drift on a shared machine hits both sides.
  const local = [await measure(false)];
  const keyed = [await measure(true)];
  local.push(await measure(false));
  keyed.push(await measure(true));
  return { local: Math.min(...local), keyed: Math.min(...keyed) };
}

for (const engine of await engines()) {
  const store = await openStore(engine.options);
  try {
    const admission = await admissions(store);
    log(
      `${engine.name}: admission + finish median ${msText(admission.median)}, p95 ${msText(admission.p95)}`,
    );
    rows.push([
      `key admission + finish (${engine.name})`,
      `${msText(admission.median)} (p95 ${msText(admission.p95)})`,
      "-",
      "-",
    ]);
    const started = performance.now();
    const found = await search(store);
    log(
      `${engine.name}: ${conversationCount * 10} messages indexed in ${msText(performance.now() - started)}`,
    );
    rows.push([
      `search, ${conversationCount * 10} messages (${engine.name})`,
      `方程 ${msText(found.chinese.median)}, lattice ${msText(found.english.median)}, ` +
        `1234 ${msText(found.rare.median)} (medians)`,
      "-",
      "-",
    ]);
  } finally {
    await store.close();
    await engine.drop();
  }
}

const overhead = await requestOverhead();
rows.push([
  "chat request with key + ledger vs local mode",
  `+${msText(overhead.keyed - overhead.local)} (${msText(overhead.keyed)} vs ${msText(overhead.local)}, medians, SQLite)`,
  "-",
  "-",
]);

if (values.json) console.log(JSON.stringify({ rows }));
else for (const row of rows) console.log(`${row[0]}: ${row[1]}`);
