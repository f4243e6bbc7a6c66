// A reply does not wait for its model file's first hash (seconds to a minute for gigabytes): it
// starts without the digest, and the digest is recorded on it once the file is hashed.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ensureFixtureModels } from "../fixtures/models.js";
import { AppClient, startTestServer, waitFor, type TestServer } from "./harness.js";

describe("a reply's model digest", () => {
  let server: TestServer;
  let dir: string;
  let file: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "qiusuo-digest-"));
    file = path.join(dir, "never-hashed.gguf");
    await fs.copyFile(ensureFixtureModels().scripted, file); // no .sha256 beside it
    server = await startTestServer({ models: [{ file }], preload: false });
  });
  after(async () => {
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("is not waited for, and is recorded on the reply once the file is hashed", async () => {
    const unhashed = await server.engine.provenance("never-hashed", { waitForDigest: false });
    assert.equal(unhashed.modelSha256, null, "nothing has hashed the file yet");

    const client = new AppClient(server.url);
    const created = await client.request("POST", "/api/conversations", { model: "never-hashed" });
    const sent = await client.send(created.json.id, { parentId: null, content: "Q" });
    const done = sent.events.find((event) => event.event === "done");
    assert.ok(done, JSON.stringify(sent.events));

    const expected = createHash("sha256")
      .update(await fs.readFile(file))
      .digest("hex");
    let recorded: unknown;
    await waitFor(
      async () => {
        const stored = await client.request("GET", `/api/conversations/${created.json.id}`);
        const reply = stored.json.messages.find((message: { id: string }) => message.id === done.data.id);
        recorded = reply?.provenance?.modelSha256;
        return recorded === expected;
      },
      () => `the digest to be recorded (have ${String(recorded)})`,
    );
    assert.equal(typeof done.data.provenance.seed, "number", "the seed is there from the start");
  });
});
