// Projects and custom instructions on the real server and engine, over SQLite and (when
// QIUSUO_TEST_DATABASE_URL is set) PostgreSQL: what the engine is really sent (custom
// instructions, then the project's instructions and files, then the conversation's system
// prompt), replay after they change, per-user isolation, limits, delete semantics, search by
// project and pinned order.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { ChatRequest } from "../../src/core/chat.js";
import { PROJECT_LIMITS } from "../../src/protocol/app/projects.js";
import { openStore, type Store } from "../../src/store/store.js";
import { AppClient, startTestServer, type TestServer } from "./harness.js";
import { testEngines } from "./store-engines.js";

const engines = testEngines("projects");
after(async () => {
  for (const engine of engines) await engine.cleanup();
});

for (const engine of engines) {
  describe(`projects and custom instructions (${engine.name})`, () => {
    let store: Store;
    let server: TestServer;
    let ada: AppClient;
    let bo: AppClient;
    /** Every request the engine was asked to answer, in order. */
    const sent: ChatRequest[] = [];

    before(async () => {
      store = await openStore(await engine.fresh());
      await store.users.create({ name: "ada", password: "ada's password", role: "admin" });
      await store.users.create({ name: "bo", password: "bo's password" });
      server = await startTestServer({ store, accounts: true });
      // The router the app answers through, watched: what the model is given, exactly.
      const chat = server.router.chat.bind(server.router);
      server.router.chat = (request, signal) => {
        sent.push(request);
        return chat(request, signal);
      };
      ada = new AppClient(server.url);
      bo = new AppClient(server.url);
      await ada.login("ada", "ada's password");
      await bo.login("bo", "bo's password");
    });
    after(async () => {
      await server.close();
      await store.close();
    });

    async function created(client: AppClient, path: string, body: unknown) {
      const response = await client.request("POST", path, body);
      assert.equal(response.status, 201, response.text);
      return response.json;
    }

    async function reply(client: AppClient, conversationId: string, content: string) {
      const { status, events } = await client.send(conversationId, { parentId: null, content });
      assert.equal(status, 200);
      const done = events.find((event) => event.event === "done");
      assert.ok(done, JSON.stringify(events));
      return done.data;
    }

    it("gives the model custom instructions first, then the project's instructions and files, then the system prompt", async () => {
      const instructions = await ada.request("PUT", "/api/instructions", {
        aboutUser: "I teach physics.",
        responseStyle: "Answer in one line.",
        enabled: true,
      });
      assert.equal(instructions.status, 200, instructions.text);
      const project = await created(ada, "/api/projects", { name: "Optics", instructions: "Use SI units." });
      assert.equal(project.name, "Optics");
      assert.deepEqual(project.files, []);
      const files = await created(ada, `/api/projects/${project.id}/files`, {
        files: [{ name: "lens.md", text: "focal length f" }],
      });
      assert.equal(files.data[0].name, "lens.md");
      assert.equal(files.data[0].bytes, 14);
      const conversation = await created(ada, "/api/conversations", {
        projectId: project.id,
        settings: { systemPrompt: "Be brief." },
      });
      assert.equal(conversation.projectId, project.id);

      const done = await reply(ada, conversation.id, "what is a lens");
      const request = sent.at(-1)!;
      const expectedSystem =
        "About the user:\nI teach physics.\n\nHow to respond:\nAnswer in one line.\n\n" +
        "Use SI units.\n\n" +
        "[file name]: lens.md\n[file content begin]\nfocal length f\n[file content end]\n\n" +
        "Be brief.";
      assert.deepEqual(
        request.messages.map((message) => [message.role, message.content]),
        [
          ["system", expectedSystem],
          ["user", "what is a lens"],
        ],
      );
      // The reply's provenance hashes exactly what the engine was given, and records the context.
      const sha = createHash("sha256").update(JSON.stringify(request.messages)).digest("hex");
      assert.equal(done.provenance.promptSha256, sha);
      assert.deepEqual(done.provenance.context, {
        customInstructions: "About the user:\nI teach physics.\n\nHow to respond:\nAnswer in one line.",
        projectId: project.id,
        projectInstructions: "Use SI units.",
        projectFiles: [
          { name: "lens.md", sha256: createHash("sha256").update("focal length f").digest("hex") },
        ],
      });

      // Outside the project: the custom instructions only; switched off: nothing.
      const loose = await created(ada, "/api/conversations", {});
      assert.equal(loose.projectId, null);
      await reply(ada, loose.id, "hello");
      assert.deepEqual(sent.at(-1)!.messages[0], {
        role: "system",
        content: "About the user:\nI teach physics.\n\nHow to respond:\nAnswer in one line.",
      });
      await ada.request("PUT", "/api/instructions", {
        aboutUser: "I teach physics.",
        responseStyle: "Answer in one line.",
        enabled: false,
      });
      assert.deepEqual((await ada.request("GET", "/api/instructions")).json, {
        aboutUser: "I teach physics.",
        responseStyle: "Answer in one line.",
        enabled: false,
      });
      await reply(ada, loose.id, "hello again");
      assert.deepEqual(
        sent.at(-1)!.messages.map((message) => message.role),
        ["user"],
      );
      // Bo's instructions are his own: empty and off.
      assert.deepEqual((await bo.request("GET", "/api/instructions")).json, {
        aboutUser: "",
        responseStyle: "",
        enabled: false,
      });
    });

    it("replays a reply identically after the instructions change, and refuses once a file it was given is gone", async () => {
      await ada.request("PUT", "/api/instructions", {
        aboutUser: "I sail.",
        responseStyle: "",
        enabled: true,
      });
      const project = await created(ada, "/api/projects", { name: "Boats", instructions: "Think of wind." });
      const file = (
        await created(ada, `/api/projects/${project.id}/files`, {
          files: [{ name: "hull.txt", text: "keel and rudder" }],
        })
      ).data[0];
      // The scripted model's answer does not depend on the prompt: what proves the rebuild is the
      // request replay sends. (The random model can write NUL bytes, which PostgreSQL's text refuses.)
      const conversation = await created(ada, "/api/conversations", { projectId: project.id });
      const stored = await reply(ada, conversation.id, "how do boats turn");
      const original = sent.at(-1)!;

      await ada.request("PUT", "/api/instructions", {
        aboutUser: "I fly.",
        responseStyle: "",
        enabled: true,
      });
      const changed = await ada.request("PATCH", `/api/projects/${project.id}`, {
        instructions: "Think of air.",
      });
      assert.equal(changed.status, 200, changed.text);
      assert.equal(changed.json.instructions, "Think of air.");
      const path = `/api/conversations/${conversation.id}/messages/${stored.id}/replay`;
      const replayed = await ada.request("POST", path);
      assert.equal(replayed.status, 200, replayed.text);
      assert.equal(replayed.json.identical, true, replayed.text);
      assert.deepEqual(sent.at(-1)!.messages, original.messages, "replay sends what the reply was given");
      assert.ok(
        !replayed.json.notes.some((note: string) => /prompt differs/.test(note)),
        JSON.stringify(replayed.json.notes),
      );
      // A new reply gets the new instructions.
      await reply(ada, conversation.id, "and now");
      assert.match(String(sent.at(-1)!.messages[0]!.content), /^About the user:\nI fly\.\n\nThink of air\./);

      const removed = await ada.request("DELETE", `/api/projects/${project.id}/files/${file.id}`);
      assert.equal(removed.status, 200, removed.text);
      const refused = await ada.request("POST", path);
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.json.error.code, "replay_context_changed");
      assert.match(refused.json.error.message, /'hull\.txt'/);
    });

    it("keeps every project route and filter to its owner: another user gets 404", async () => {
      const project = await created(ada, "/api/projects", { name: "Private" });
      const file = (
        await created(ada, `/api/projects/${project.id}/files`, {
          files: [{ name: "a.txt", text: "secret" }],
        })
      ).data[0];
      const inside = await created(ada, "/api/conversations", { projectId: project.id });
      const own = await created(bo, "/api/conversations", {});
      const attempts: Array<[string, string, unknown?]> = [
        ["GET", `/api/projects/${project.id}`],
        ["PATCH", `/api/projects/${project.id}`, { name: "Mine now" }],
        ["DELETE", `/api/projects/${project.id}`],
        ["DELETE", `/api/projects/${project.id}?chats=delete`],
        ["POST", `/api/projects/${project.id}/files`, { files: [{ name: "b.txt", text: "x" }] }],
        ["DELETE", `/api/projects/${project.id}/files/${file.id}`],
        ["GET", `/api/conversations?project=${project.id}`],
        ["GET", `/api/search?q=secret&project=${project.id}`],
        ["POST", "/api/conversations", { projectId: project.id }],
        ["PATCH", `/api/conversations/${own.id}`, { projectId: project.id }],
        ["PATCH", `/api/conversations/${inside.id}`, { projectId: null }],
        ["PATCH", `/api/conversations/${inside.id}`, { pinned: true }],
      ];
      for (const [method, path, body] of attempts) {
        const response = await bo.request(method, path, body);
        assert.equal(response.status, 404, `${method} ${path}: ${response.text}`);
        assert.equal(typeof response.json.error.message, "string");
      }
      assert.deepEqual((await bo.request("GET", "/api/projects")).json.data, []);
      // Nothing changed: the project, its file, and both chats are where they were.
      const still = await ada.request("GET", `/api/projects/${project.id}`);
      assert.equal(still.json.name, "Private");
      assert.deepEqual(
        still.json.files.map((entry: { id: string }) => entry.id),
        [file.id],
      );
      assert.equal(
        (await bo.request("GET", `/api/conversations/${own.id}`)).json.conversation.projectId,
        null,
      );
      const listed = await ada.request("GET", `/api/conversations?project=${project.id}`);
      assert.deepEqual(
        listed.json.data.map((entry: { id: string }) => entry.id),
        [inside.id],
      );
    });

    it("bounds instructions, file count and sizes with clear 400 and 413 errors", async () => {
      const tooLong = "x".repeat(PROJECT_LIMITS.instructionsChars + 1);
      const refused = await ada.request("POST", "/api/projects", { name: "Long", instructions: tooLong });
      assert.equal(refused.status, 400, refused.text);
      assert.equal(refused.json.error.code, "instructions_too_long");
      assert.equal(refused.json.error.param, "instructions");
      assert.match(
        refused.json.error.message,
        new RegExp(`${PROJECT_LIMITS.instructionsChars + 1}.*${PROJECT_LIMITS.instructionsChars}`),
      );
      const custom = await ada.request("PUT", "/api/instructions", {
        aboutUser: "y".repeat(PROJECT_LIMITS.customInstructionsChars + 1),
        responseStyle: "",
        enabled: true,
      });
      assert.equal(custom.status, 400, custom.text);
      assert.equal(custom.json.error.code, "about_user_too_long");
      assert.equal((await ada.request("POST", "/api/projects", { name: "" })).status, 422);
      assert.equal((await ada.request("POST", "/api/projects", {})).status, 400);

      const project = await created(ada, "/api/projects", { name: "Limits" });
      const filesPath = `/api/projects/${project.id}/files`;
      const many = Array.from({ length: PROJECT_LIMITS.files + 1 }, (_, index) => ({
        name: `${index}.txt`,
        text: "x",
      }));
      const tooMany = await ada.request("POST", filesPath, { files: many });
      assert.equal(tooMany.status, 400, tooMany.text);
      assert.equal(tooMany.json.error.code, "too_many_project_files");
      const big = await ada.request("POST", filesPath, {
        files: [{ name: "big.txt", text: "z".repeat(PROJECT_LIMITS.textBytesPerFile + 1) }],
      });
      assert.equal(big.status, 413, big.text);
      assert.equal(big.json.error.code, "project_file_too_large");
      assert.match(big.json.error.message, /'big\.txt'/);
      // Three files under the per-file limit fit one at a time until the project's total is reached.
      const third = "w".repeat(Math.floor(PROJECT_LIMITS.totalTextBytes / 3) + 1);
      assert.equal(
        (await ada.request("POST", filesPath, { files: [{ name: "1.txt", text: third }] })).status,
        201,
      );
      assert.equal(
        (await ada.request("POST", filesPath, { files: [{ name: "2.txt", text: third }] })).status,
        201,
      );
      const over = await ada.request("POST", filesPath, { files: [{ name: "3.txt", text: third }] });
      assert.equal(over.status, 413, over.text);
      assert.equal(over.json.error.code, "project_files_too_large");
      // All or none: nothing of a refused request was stored, and the count holds with what exists.
      const stored = await ada.request("GET", `/api/projects/${project.id}`);
      assert.deepEqual(
        stored.json.files.map((file: { name: string }) => file.name),
        ["1.txt", "2.txt"],
      );
      const nineteen = Array.from({ length: PROJECT_LIMITS.files - 1 }, (_, index) => ({
        name: `${index}`,
        text: "x",
      }));
      const countOver = await ada.request("POST", filesPath, { files: nineteen });
      assert.equal(countOver.status, 400, countOver.text);
      assert.equal((await ada.request("GET", `/api/projects/${project.id}`)).json.files.length, 2);
    });

    it("holds the file count when two additions race", async () => {
      const project = await created(ada, "/api/projects", { name: "Race" });
      const half = Array.from({ length: PROJECT_LIMITS.files / 2 + 1 }, (_, index) => ({
        name: `${index}.txt`,
        text: "x",
      }));
      const answers = await Promise.all(
        [0, 1].map(() => ada.request("POST", `/api/projects/${project.id}/files`, { files: half })),
      );
      assert.deepEqual(answers.map((answer) => answer.status).sort(), [201, 400]);
      const stored = await ada.request("GET", `/api/projects/${project.id}`);
      assert.equal(stored.json.files.length, half.length);
    });

    it("deletes a project keeping its chats (moved out), or with them when asked", async () => {
      const kept = await created(ada, "/api/projects", { name: "Keep" });
      const chat = await created(ada, "/api/conversations", { projectId: kept.id });
      await reply(ada, chat.id, "keep me");
      const deleted = await ada.request("DELETE", `/api/projects/${kept.id}`);
      assert.equal(deleted.status, 200, deleted.text);
      assert.deepEqual(deleted.json, { ok: true, chats: "keep" });
      assert.equal((await ada.request("GET", `/api/projects/${kept.id}`)).status, 404);
      const survivor = await ada.request("GET", `/api/conversations/${chat.id}`);
      assert.equal(survivor.status, 200);
      assert.equal(survivor.json.conversation.projectId, null);
      assert.equal(survivor.json.messages.length, 2);

      const dropped = await created(ada, "/api/projects", { name: "Drop" });
      const gone = await created(ada, "/api/conversations", { projectId: dropped.id });
      const outside = await created(ada, "/api/conversations", {});
      assert.equal((await ada.request("DELETE", `/api/projects/${dropped.id}?chats=delete`)).status, 200);
      assert.equal((await ada.request("GET", `/api/conversations/${gone.id}`)).status, 404);
      assert.equal((await ada.request("GET", `/api/conversations/${outside.id}`)).status, 200);
      assert.equal((await ada.request("DELETE", `/api/projects/${dropped.id}?chats=all`)).status, 422);
    });

    it("moves chats between projects and out, and filters search by project", async () => {
      const first = await created(ada, "/api/projects", { name: "First" });
      const second = await created(ada, "/api/projects", { name: "Second" });
      const inFirst = await created(ada, "/api/conversations", { projectId: first.id });
      const loose = await created(ada, "/api/conversations", {});
      await reply(ada, inFirst.id, "薛定谔方程 in the project");
      await reply(ada, loose.id, "薛定谔方程 outside");
      const search = async (project?: string) =>
        (
          await ada.request(
            "GET",
            `/api/search?q=${encodeURIComponent("方程")}${project ? `&project=${project}` : ""}`,
          )
        ).json.data.map((hit: { conversationId: string }) => hit.conversationId);
      assert.deepEqual(new Set(await search()), new Set([inFirst.id, loose.id]));
      assert.deepEqual(new Set(await search(first.id)), new Set([inFirst.id]));
      assert.deepEqual(await search(second.id), []);

      const moved = await ada.request("PATCH", `/api/conversations/${loose.id}`, { projectId: second.id });
      assert.equal(moved.status, 200, moved.text);
      assert.equal(moved.json.projectId, second.id);
      assert.deepEqual(new Set(await search(second.id)), new Set([loose.id]));
      const ids = async (project: string) =>
        (await ada.request("GET", `/api/conversations?project=${project}`)).json.data.map(
          (entry: { id: string }) => entry.id,
        );
      assert.deepEqual(await ids(second.id), [loose.id]);
      assert.equal((await ada.request("GET", `/api/projects/${second.id}`)).json.conversations, 1);
      const out = await ada.request("PATCH", `/api/conversations/${loose.id}`, { projectId: null });
      assert.equal(out.json.projectId, null);
      assert.deepEqual(await ids(second.id), []);
      assert.equal(
        (await ada.request("PATCH", `/api/conversations/${loose.id}`, { projectId: "nope" })).status,
        404,
      );
    });

    it("lists pinned chats first, last pinned on top, without changing when they were updated", async () => {
      const project = await created(ada, "/api/projects", { name: "Pins" });
      const chats = [];
      for (let index = 0; index < 5; index++) {
        chats.push(
          await created(ada, "/api/conversations", { projectId: project.id, title: `chat ${index}` }),
        );
      }
      const pin = (id: string, pinned: boolean) =>
        ada.request("PATCH", `/api/conversations/${id}`, { pinned });
      const pinned = await pin(chats[1].id, true);
      assert.equal(pinned.status, 200, pinned.text);
      assert.equal(typeof pinned.json.pinnedAt, "number");
      assert.equal(pinned.json.updatedAt, chats[1].updatedAt);
      await pin(chats[3].id, true);
      const order = async (limit: number) => {
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: { json: { data: Array<{ title: string }>; nextCursor: string | null } } =
            await ada.request(
              "GET",
              `/api/conversations?project=${project.id}&limit=${limit}${cursor ? `&cursor=${cursor}` : ""}`,
            );
          seen.push(...page.json.data.map((entry) => entry.title));
          cursor = page.json.nextCursor;
        } while (cursor);
        return seen;
      };
      const expected = ["chat 3", "chat 1", "chat 4", "chat 2", "chat 0"];
      assert.deepEqual(await order(50), expected);
      // Paged across the pinned ones and the rest alike.
      assert.deepEqual(await order(1), expected);
      assert.deepEqual(await order(2), expected);
      await pin(chats[3].id, false);
      assert.deepEqual(await order(50), ["chat 1", "chat 4", "chat 3", "chat 2", "chat 0"]);
    });
  });
}
