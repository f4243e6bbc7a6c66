// Knowledge collections on the real server, the real engine (the tiny fixture model embeds) and
// the real extraction worker, over SQLite and (when QIUSUO_TEST_DATABASE_URL is set) PostgreSQL:
// upload Markdown, PDF and DOCX, wait for indexing, hybrid search, re-upload, delete (rows
// counted), per-user isolation on every route, API keys, an oversized upload, a zip bomb, and
// /health while a big file indexes.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { KnowledgeService } from "../../src/knowledge/knowledge-service.js";
import { openStore, type Store } from "../../src/store/store.js";
import { startTestServer, waitFor, type TestServer } from "./harness.js";
import { docxParts, makeDocx, makePdf, makeZip } from "./knowledge-documents.js";
import { testEngines } from "./store-engines.js";

const engines = testEngines("knowledge collections");
after(async () => {
  for (const engine of engines) await engine.cleanup();
});

const NOTES = `# Airships

## The hangar

The zeppelin hangar at Friedrichshafen held two ships side by side.

## Fuel

Hydrogen lifted the early ships; helium replaced it later.
`;

/** A signed-in browser: the session cookie and the CSRF token, or an API key instead. */
class Caller {
  private cookie: string | undefined;
  private csrf: string | undefined;
  constructor(
    readonly url: string,
    private readonly apiKey?: string,
  ) {}

  static async login(url: string, name: string, password: string): Promise<Caller> {
    const caller = new Caller(url);
    const response = await fetch(`${url}/api/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name, password }),
    });
    assert.equal(response.status, 200);
    caller.cookie = response.headers.get("set-cookie")!.split(";")[0]!;
    caller.csrf = ((await response.json()) as { csrfToken: string }).csrfToken;
    return caller;
  }

  withKey(apiKey: string): Caller {
    return new Caller(this.url, apiKey);
  }

  async call(method: string, path: string, body?: unknown) {
    return this.send(method, path, body === undefined ? undefined : JSON.stringify(body), {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    });
  }

  async upload(
    collectionId: string,
    name: string,
    bytes: Buffer | string,
    type = "application/octet-stream",
  ) {
    return this.send("POST", `/api/collections/${collectionId}/files`, bytes, {
      "content-type": type,
      "x-file-name": encodeURIComponent(name),
    });
  }

  async send(
    method: string,
    path: string,
    body: Buffer | string | undefined,
    headers: Record<string, string>,
  ) {
    const response = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        ...headers,
        ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(this.csrf && method !== "GET" ? { "x-csrf-token": this.csrf } : {}),
      },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    return { status: response.status, text, json: text ? JSON.parse(text) : undefined };
  }
}

for (const engine of engines) {
  describe(`knowledge collections (${engine.name})`, () => {
    let store: Store;
    let server: TestServer;
    let ada: Caller;
    let bo: Caller;
    let adaKey: string;
    let boKey: string;

    before(async () => {
      store = await openStore(await engine.fresh());
      const adaUser = await store.users.create({ name: "ada", password: "ada's password", role: "admin" });
      const boUser = await store.users.create({ name: "bo", password: "bo's password" });
      adaKey = (await store.apiKeys.create({ userId: adaUser.id, name: "script" })).plaintext;
      boKey = (await store.apiKeys.create({ userId: boUser.id, name: "script" })).plaintext;
      server = await startTestServer({ store, accounts: true, models: ["tiny"] });
      ada = await Caller.login(server.url, "ada", "ada's password");
      bo = await Caller.login(server.url, "bo", "bo's password");
    });
    after(async () => {
      await server.close();
      await store.close();
    });

    async function collection(caller: Caller, name: string) {
      const response = await caller.call("POST", "/api/collections", { name, description: "test" });
      assert.equal(response.status, 201, response.text);
      return response.json as { id: string; embeddingModel: string };
    }

    /** Waits until every file of the collection is ready or failed; returns the collection. */
    async function settled(caller: Caller, id: string) {
      let last: any;
      await waitFor(
        async () => {
          last = (await caller.call("GET", `/api/collections/${id}`)).json;
          return last.files.every(
            (file: { status: string }) => file.status === "ready" || file.status === "failed",
          );
        },
        () => `every file of ${id} settled: ${JSON.stringify(last?.files)}`,
        60_000,
      );
      return last;
    }

    async function rows(table: "collection_chunks" | "collection_vectors", fileIds: readonly string[]) {
      if (fileIds.length === 0) return 0;
      const row = await store.collections.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll<number>().as("count"))
        .where("file_id", "in", [...fileIds])
        .executeTakeFirstOrThrow();
      return Number(row.count);
    }

    /**
     * On SQLite, that each sqlite-vec index holds exactly the vectors of its length, so no
     * deleted chunk's vector outlives it there (the triggers ran, cascades included).
     */
    async function vectorIndexInStep() {
      if (store.kind !== "sqlite") return;
      const { rows: all } = await sql<{
        name: string;
      }>`select name from sqlite_master where type = 'table'`.execute(store.collections.db);
      // The vec0 tables themselves, not their shadow tables (collection_vectors_64_chunks, ...).
      const tables = all.filter(({ name }) => /^collection_vectors_\d+$/.test(name));
      assert.ok(tables.length > 0);
      for (const { name } of tables) {
        const dimensions = Number(name.slice("collection_vectors_".length));
        const indexed = await sql<{
          count: number;
        }>`select count(*) as count from ${sql.table(name)}`.execute(store.collections.db);
        const stored = await sql<{ count: number }>`select count(*) as count from collection_vectors
          where length(embedding) = ${dimensions * 4}`.execute(store.collections.db);
        assert.equal(Number(indexed.rows[0]!.count), Number(stored.rows[0]!.count), name);
      }
    }

    async function search(caller: Caller, query: string, collectionIds: string[]) {
      const response = await caller.call("POST", "/api/collections/search", {
        query,
        collectionIds,
        limit: 5,
      });
      assert.equal(response.status, 200, response.text);
      return response.json.results as Array<{
        fileName: string;
        text: string;
        page?: number;
        fileId: string;
      }>;
    }

    it("indexes Markdown, PDF and DOCX in the background and finds the keyword passage by hybrid search", async () => {
      const created = await collection(ada, "Airships");
      assert.equal(created.embeddingModel, server.router.listModels()[0]!.id);
      const notes = await ada.upload(created.id, "notes.md", NOTES, "text/markdown");
      assert.equal(notes.status, 202, notes.text);
      assert.equal(notes.json.name, "notes.md");
      assert.ok(["queued", "indexing"].includes(notes.json.status));
      const pdf = makePdf([
        ["Mooring masts stood in open fields."],
        ["A quasar lighthouse guided night flights."],
      ]);
      assert.equal((await ada.upload(created.id, "report.pdf", pdf, "application/pdf")).status, 202);
      const docx = makeDocx([
        { heading: 1, text: "Ballast" },
        { text: "Water ballast trimmed the ship's pitch." },
      ]);
      assert.equal((await ada.upload(created.id, "ballast 压舱.docx", docx)).status, 202);

      const done = await settled(ada, created.id);
      assert.deepEqual(
        done.files.map((file: { name: string; status: string }) => [file.name, file.status]),
        [
          ["notes.md", "ready"],
          ["report.pdf", "ready"],
          ["ballast 压舱.docx", "ready"],
        ],
      );
      assert.equal(done.fileCount, 3);
      assert.ok(done.chunkCount >= 3);
      const fileIds = done.files.map((file: { id: string }) => file.id);
      assert.equal(await rows("collection_vectors", fileIds), await rows("collection_chunks", fileIds));

      const hangar = await search(ada, "zeppelin hangar", [created.id]);
      assert.equal(hangar[0]!.fileName, "notes.md");
      assert.match(hangar[0]!.text, /zeppelin hangar/);
      const quasar = await search(ada, "quasar lighthouse", [created.id]);
      assert.equal(quasar[0]!.fileName, "report.pdf");
      assert.equal(quasar[0]!.page, 2);
      const ballast = await search(ada, "water ballast", [created.id]);
      assert.equal(ballast[0]!.fileName, "ballast 压舱.docx");

      // The turn's tool: numbered passages, and sources numbered the same way.
      const adaId = (await store.users.findByName("ada"))!.id;
      const tool = new KnowledgeService({ repository: store.collections, engine: server.router }).tool(
        adaId,
        [created.id],
      );
      const result = await tool.run(
        { query: "quasar lighthouse" },
        {
          userId: adaId,
          conversationId: "c",
          signal: new AbortController().signal,
          deadline: Date.now() + 10_000,
        },
      );
      assert.equal(result.isError, false);
      assert.match(result.content, /^\[citation:1\] report\.pdf, page 2\n/);
      assert.equal(result.sources![0]!.index, 1);
      assert.equal(result.sources![0]!.file, "report.pdf");
      assert.match(result.sources![0]!.passage, /quasar lighthouse/);
    });

    it("replaces a re-uploaded file once the new one is ready, and deletes a file's chunks and vectors", async () => {
      const created = await collection(ada, "Replace");
      await ada.upload(created.id, "notes.md", NOTES, "text/markdown");
      const first = (await settled(ada, created.id)).files[0];
      await ada.upload(
        created.id,
        "notes.md",
        "# Walrus\n\nThe walrus colony basks on the ice floe.",
        "text/markdown",
      );
      const after = await settled(ada, created.id);
      assert.equal(after.files.length, 1);
      assert.notEqual(after.files[0].id, first.id);
      assert.equal(await rows("collection_chunks", [first.id]), 0);
      assert.equal(await rows("collection_vectors", [first.id]), 0);
      const old = await search(ada, "zeppelin", [created.id]);
      assert.ok(old.every((hit) => hit.fileId !== first.id && !/zeppelin/.test(hit.text)));
      assert.equal((await search(ada, "walrus colony", [created.id]))[0]!.fileName, "notes.md");

      const fileId = after.files[0].id;
      assert.ok((await rows("collection_chunks", [fileId])) > 0);
      assert.equal((await ada.call("DELETE", `/api/collections/${created.id}/files/${fileId}`)).status, 204);
      assert.equal(await rows("collection_chunks", [fileId]), 0);
      assert.equal(await rows("collection_vectors", [fileId]), 0);
      assert.equal((await ada.call("GET", `/api/collections/${created.id}/files/${fileId}`)).status, 404);
      assert.equal((await ada.call("DELETE", `/api/collections/${created.id}/files/${fileId}`)).status, 404);
    });

    it("deletes a collection with everything in it", async () => {
      const created = await collection(ada, "Doomed");
      await ada.upload(created.id, "notes.md", NOTES, "text/markdown");
      const fileIds = (await settled(ada, created.id)).files.map((file: { id: string }) => file.id);
      assert.ok((await rows("collection_vectors", fileIds)) > 0);
      assert.equal((await ada.call("DELETE", `/api/collections/${created.id}`)).status, 204);
      assert.equal(await rows("collection_chunks", fileIds), 0);
      assert.equal(await rows("collection_vectors", fileIds), 0);
      await vectorIndexInStep();
      assert.equal((await ada.call("GET", `/api/collections/${created.id}`)).status, 404);
      // No FTS row outlives its chunk: a search over everything still finds only live rows.
      const live = await store.collections.db
        .selectFrom("collection_files")
        .select("id")
        .where("id", "in", fileIds)
        .execute();
      assert.deepEqual(live, []);
    });

    it("shows another user's collection and files as missing on every route", async () => {
      const created = await collection(ada, "Private");
      await ada.upload(created.id, "notes.md", NOTES, "text/markdown");
      const fileId = (await settled(ada, created.id)).files[0].id;
      const routes: Array<[string, string, unknown?]> = [
        ["GET", `/api/collections/${created.id}`],
        ["PATCH", `/api/collections/${created.id}`, { name: "mine now" }],
        ["DELETE", `/api/collections/${created.id}`],
        ["GET", `/api/collections/${created.id}/files/${fileId}`],
        ["DELETE", `/api/collections/${created.id}/files/${fileId}`],
      ];
      for (const caller of [bo, bo.withKey(boKey)]) {
        for (const [method, path, body] of routes) {
          const response = await caller.call(method, path, body);
          assert.equal(response.status, 404, `${method} ${path}: ${response.text}`);
          assert.match(response.json.error.code, /_not_found$/);
        }
        const upload = await caller.upload(created.id, "evil.md", "# Evil\n\ntext");
        assert.equal(upload.status, 404, upload.text);
        assert.deepEqual(await search(caller, "zeppelin hangar", [created.id]), []);
        const list = await caller.call("GET", "/api/collections");
        assert.deepEqual(list.json.collections, []);
      }
      const still = await ada.call("GET", `/api/collections/${created.id}`);
      assert.equal(still.json.name, "Private");
      assert.equal(still.json.files.length, 1);
    });

    it("lets a script use an API key (no CSRF token), and refuses a bad key", async () => {
      const script = new Caller(server.url, adaKey);
      const created = await script.call("POST", "/api/collections", { name: "Scripted" });
      assert.equal(created.status, 201, created.text);
      const upload = await script.upload(created.json.id, "notes.md", NOTES, "text/markdown");
      assert.equal(upload.status, 202, upload.text);
      await settled(script, created.json.id);
      assert.equal((await search(script, "zeppelin hangar", [created.json.id]))[0]!.fileName, "notes.md");
      const bad = await new Caller(server.url, "sk-not-a-key").call("GET", "/api/collections");
      assert.equal(bad.status, 401);
      assert.equal(bad.json.error.code, "invalid_api_key");
      // Other app routes still want a session.
      assert.equal((await script.call("GET", "/api/conversations")).status, 401);
    });

    it("refuses bad bodies and headers with 400s", async () => {
      assert.equal((await ada.call("POST", "/api/collections", {})).status, 400);
      assert.equal((await ada.call("POST", "/api/collections", { name: "x".repeat(101) })).status, 422);
      assert.equal(
        (await ada.call("POST", "/api/collections/search", { query: "x", collectionIds: [] })).status,
        422,
      );
      const created = await collection(ada, "Headers");
      const noName = await ada.send("POST", `/api/collections/${created.id}/files`, "text", {});
      assert.equal(noName.status, 400);
      assert.equal(noName.json.error.code, "missing_file_name");
      const badName = await ada.send("POST", `/api/collections/${created.id}/files`, "text", {
        "x-file-name": "%E0%A4%A",
      });
      assert.equal(badName.json.error.code, "invalid_file_name");
    });

    it("answers a 200 MB upload with 413 before reading it", async () => {
      const created = await collection(ada, "Big");
      const started = Date.now();
      const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = httpRequest(`${server.url}/api/collections/${created.id}/files`, {
          method: "POST",
          headers: {
            "content-length": String(200 * 1024 * 1024 + 1),
            "x-file-name": "big.txt",
            authorization: `Bearer ${adaKey}`,
          },
        });
        request.on("response", (response) => {
          let body = "";
          response.on("data", (piece: Buffer) => (body += piece.toString()));
          response.on("end", () => resolve({ status: response.statusCode!, body }));
        });
        request.on("error", reject);
        request.write(Buffer.alloc(64 * 1024));
      });
      assert.equal(answer.status, 413);
      assert.equal(JSON.parse(answer.body).error.code, "file_too_large");
      assert.ok(Date.now() - started < 5_000);
      assert.deepEqual((await ada.call("GET", `/api/collections/${created.id}`)).json.files, []);
    });

    it("marks a zip-bomb DOCX failed with its code and stays healthy", async () => {
      const created = await collection(ada, "Bombs");
      const [types, , styles] = docxParts([]);
      const huge = `<w:document><w:body>${" ".repeat(50 * 1024 * 1024)}</w:body></w:document>`;
      const bomb = makeZip([types!, { name: "word/document.xml", data: huge }, styles!]);
      assert.equal((await ada.upload(created.id, "bomb.docx", bomb)).status, 202);
      assert.equal((await ada.upload(created.id, "fine.md", NOTES)).status, 202);
      const done = await settled(ada, created.id);
      const [failed, fine] = done.files;
      assert.equal(failed.status, "failed");
      assert.equal(failed.error.code, "zip_bomb");
      assert.match(failed.error.message, /inflates/);
      assert.equal(fine.status, "ready");
      assert.equal((await fetch(`${server.url}/health`)).status, 200);
    });

    it("answers /health while a big file indexes", async () => {
      const created = await collection(ada, "Large");
      const sections = Array.from(
        { length: 400 },
        (_, index) =>
          `## Part ${index}\n\n${`Paragraph ${index} talks about airship number ${index}. `.repeat(12)}`,
      );
      assert.equal((await ada.upload(created.id, "large.md", sections.join("\n\n"))).status, 202);
      await waitFor(
        async () =>
          (await ada.call("GET", `/api/collections/${created.id}`)).json.files[0].status === "indexing",
        "the large file indexing",
      );
      const slowest = { ms: 0 };
      for (let index = 0; index < 10; index++) {
        const started = performance.now();
        assert.equal((await fetch(`${server.url}/health`)).status, 200);
        slowest.ms = Math.max(slowest.ms, performance.now() - started);
      }
      const file = (await ada.call("GET", `/api/collections/${created.id}`)).json.files[0];
      assert.equal(file.status, "indexing", "the file was still indexing while /health answered");
      assert.ok(file.progress.total > 0);
      assert.ok(slowest.ms < 1_000, `slowest /health ${slowest.ms} ms`);
      assert.equal((await ada.call("DELETE", `/api/collections/${created.id}`)).status, 204);
    });

    it("refuses to search a collection whose embedding model is gone, rather than use another's vectors", async () => {
      const created = await collection(ada, "Orphaned");
      await ada.upload(created.id, "notes.md", NOTES, "text/markdown");
      await settled(ada, created.id);
      await store.collections.db
        .updateTable("collections")
        .set({ embedding_model: "retired-embedder" })
        .where("id", "=", created.id)
        .execute();
      const response = await ada.call("POST", "/api/collections/search", {
        query: "zeppelin",
        collectionIds: [created.id],
      });
      assert.equal(response.status, 503, response.text);
      assert.equal(response.json.error.code, "embedding_model_unavailable");
      assert.match(response.json.error.message, /retired-embedder/);
    });

    it("deletes a user's collections, files, chunks and vectors with the user", async () => {
      const carol = await store.users.create({ name: "carol", password: "carol's password" });
      const created = await store.collections.create(carol.id, { name: "Carol's", embeddingModel: "m" });
      const file = await store.collections.addFile(carol.id, created.id, {
        name: "a.md",
        size: 1,
        mimeType: "text/markdown",
      });
      const vector = new Float32Array([1, 0, 0, 0]);
      await store.collections.addChunks(created.id, file!.id, [
        { ordinal: 0, text: "carol's words", headingPath: [], start: 0, end: 13, vector },
      ]);
      await store.collections.finishFile(file!.id);
      assert.equal(await rows("collection_vectors", [file!.id]), 1);
      await store.collections.db.deleteFrom("users").where("id", "=", carol.id).execute();
      assert.equal(await rows("collection_chunks", [file!.id]), 0);
      assert.equal(await rows("collection_vectors", [file!.id]), 0);
      await vectorIndexInStep();
      assert.equal(await store.collections.get(carol.id, created.id), undefined);
    });

    it("marks files a stopped server left indexing as failed at start", async () => {
      const created = await collection(ada, "Interrupted");
      const adaId = (await store.users.findByName("ada"))!.id;
      const file = await store.collections.addFile(adaId, created.id, {
        name: "x.md",
        size: 1,
        mimeType: "text/markdown",
      });
      await store.collections.setFileStatus(file!.id, { status: "indexing", done: 0, total: 3 });
      await new KnowledgeService({ repository: store.collections, engine: server.router }).start();
      const after = await store.collections.file(adaId, created.id, file!.id);
      assert.equal(after!.status, "failed");
      assert.equal(after!.error!.code, "indexing_interrupted");

      // Several servers on one database: only the files of instances that are gone fail.
      const fileOf = (indexer: string) =>
        store.collections.addFile(
          adaId,
          created.id,
          { name: `${indexer}.md`, size: 1, mimeType: "text/markdown" },
          indexer,
        );
      const live = await fileOf("live-instance");
      const gone = await fileOf("gone-instance");
      await new KnowledgeService({
        repository: store.collections,
        engine: server.router,
        liveInstances: async () => ["live-instance"],
      }).start();
      assert.equal((await store.collections.file(adaId, created.id, live!.id))!.status, "queued");
      assert.equal((await store.collections.file(adaId, created.id, gone!.id))!.status, "failed");
    });
  });
}
