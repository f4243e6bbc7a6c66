// The mix: what each client loop picks next, by weight, and the loop itself. Between picks a
// client waits a moment (up to THINK_MS) so the queue sees arrivals rather than a lockstep; the
// `burst` kind is the one that sends back to back.
import {
  anthropic,
  burst,
  chat,
  chatAbort,
  chatStream,
  embeddings,
  jsonObject,
  jsonSchema,
  tools,
} from "./api-kinds.js";
import { appTurn, importConversations } from "./app-kinds.js";
import { sleep, type Client } from "./client.js";
import { parseJson } from "./exchange.js";
import { badResponse } from "./outcome.js";

const THINK_MS = 150;
const HEALTH_POLL_MS = 250;

export const MIX: ReadonlyArray<{ name: string; weight: number; run: (client: Client) => Promise<void> }> = [
  { name: "chat", weight: 12, run: chat },
  { name: "chat-stream", weight: 12, run: chatStream },
  { name: "chat-abort", weight: 8, run: chatAbort },
  { name: "tools", weight: 10, run: tools },
  { name: "json-object", weight: 6, run: jsonObject },
  { name: "json-schema", weight: 6, run: jsonSchema },
  { name: "anthropic", weight: 10, run: anthropic },
  { name: "app-turn", weight: 18, run: appTurn },
  { name: "import", weight: 5, run: importConversations },
  { name: "embeddings", weight: 5, run: embeddings },
  { name: "burst", weight: 8, run: burst },
];

const TOTAL_WEIGHT = MIX.reduce((sum, entry) => sum + entry.weight, 0);

function pickKind(client: Client) {
  let roll = client.random() * TOTAL_WEIGHT;
  for (const entry of MIX) {
    roll -= entry.weight;
    if (roll < 0) return entry;
  }
  return MIX.at(-1)!;
}

/** Runs one client until the target stops. */
export async function clientLoop(client: Client): Promise<void> {
  // Staggered starts: 64 clients do not all connect in the same millisecond.
  await sleep(client.random() * THINK_MS * 2);
  while (!client.target.isStopped) {
    await pickKind(client).run(client);
    await sleep(client.random() * THINK_MS);
  }
}

/** Polls /health throughout: it must always answer 200, and its latency shows a blocked event loop. */
export async function healthLoop(client: Client): Promise<void> {
  while (!client.target.isStopped) {
    await client.call("health", "poll", { method: "GET", path: "/health" }, (sent) =>
      parseJson(sent.body)?.status === "ok" ? undefined : badResponse(`health ${sent.body.slice(0, 200)}`),
    );
    await sleep(HEALTH_POLL_MS);
  }
}
