import fs from "node:fs/promises";
import path from "node:path";
import type { Command } from "commander";
import type { ReplayReport } from "../chat/replay.js";
import type { EngineRuntime } from "../core/engine.js";
import { KV_CACHE_TYPES, type KvCacheType } from "../core/kv-cache-settings.js";
import { effectiveThreads, loadServeConfig, loadStoreConfig } from "../config/config.js";
import { localModelFiles } from "./model-sources.js";
import { addStoreOptions, CommandError, openCommandStore, type StoreFlags } from "./store-command.js";

interface ReplayFlags extends StoreFlags {
  modelDir?: string;
  json?: boolean;
}

/**
 * `qiusuo replay MESSAGE_ID`: re-runs a stored local reply here, with its own llama.cpp (like
 * `qiusuo run`), on the weights found by SHA-256 among the data dir's models (and `--model-dir`),
 * with the threads and parallel sequences the reply recorded. Exit status 0 when identical, 2 when
 * not, 1 when it cannot be replayed.
 */
export function registerReplayCommand(program: Command): void {
  addStoreOptions(
    program
      .command("replay")
      .description("re-run a stored reply on the same weights, template, settings and seed, and compare")
      .argument("<message-id>", "the reply's id (the app's reply details show it)"),
  )
    .option("--model-dir <dir>", "another folder of .gguf files to look for the weights in")
    .option("--json", "print the report as JSON")
    .action(async (messageId: string, flags: ReplayFlags) => {
      const store = await openCommandStore(loadStoreConfig(flags));
      let report: ReplayReport;
      try {
        report = await replay(messageId, flags, store);
      } finally {
        await store.close();
      }
      if (flags.json) console.log(JSON.stringify(report, null, 2));
      else printReport(report);
      process.exitCode = report.identical ? 0 : 2;
    });
}

async function replay(
  messageId: string,
  flags: ReplayFlags,
  store: Awaited<ReturnType<typeof openCommandStore>>,
): Promise<ReplayReport> {
  const located = await store.conversations.locateMessage(messageId);
  const conversation = located && (await store.conversations.get(located.userId, located.conversationId));
  const messages = conversation && (await store.conversations.messages(conversation.userId, conversation.id));
  const reply = messages?.find((message) => message.id === messageId);
  if (!conversation || !messages || !reply) throw new CommandError(`There is no message '${messageId}'.`);
  const config = loadServeConfig({ ...(flags.dataDir === undefined ? {} : { dataDir: flags.dataDir }) });
  const files = [
    ...(flags.modelDir === undefined ? [] : await ggufFilesIn(flags.modelDir)),
    ...(await localModelFiles(config.dataDir)),
  ];
  // The decode settings the reply was made with, so only what cannot be reproduced here differs.
  const runtime = (reply.provenance?.runtime ?? {}) as Partial<EngineRuntime>;
  // Loaded here, not at the top, so other commands start without llama.cpp.
  const { LocalEngine } = await import("../engines/local/local-engine.js");
  const { disposeRuntime } = await import("../engines/local/llama-runtime.js");
  const { replayReply } = await import("../chat/replay.js");
  const engine = new LocalEngine({
    ...config,
    cacheDir: undefined, // a replay reads its prompt afresh and leaves the server's cache alone
    parallel: runtime.parallel ?? 1,
    threads: runtime.threads ?? effectiveThreads(config),
    // Replies recorded before these settings existed were made with f16 and flash attention auto.
    kvCache: {
      keyType: recordedCacheType(runtime.cacheTypeK),
      valueType: recordedCacheType(runtime.cacheTypeV),
      flashAttention:
        runtime.flashAttention === undefined || runtime.flashAttention === "auto"
          ? "auto"
          : runtime.flashAttention
            ? "on"
            : "off",
    },
  });
  try {
    for (const file of files) await engine.addModelFile(file).catch(() => undefined);
    return await replayReply({
      engine,
      conversation,
      messages,
      messageId,
      signal: new AbortController().signal,
      projectFileText: (sha256) => store.projects.fileText(conversation.userId, sha256),
    });
  } finally {
    await engine.dispose();
    await disposeRuntime();
  }
}

function recordedCacheType(type: string | undefined): KvCacheType {
  return KV_CACHE_TYPES.find((known) => known === type) ?? "f16";
}

async function ggufFilesIn(dir: string): Promise<string[]> {
  const names = await fs.readdir(dir).catch((error: unknown) => {
    throw new CommandError(`Cannot read --model-dir ${dir}: ${(error as Error).message}`);
  });
  return names
    .filter((name) => name.toLowerCase().endsWith(".gguf"))
    .sort()
    .map((name) => path.join(dir, name));
}

function printReport(report: ReplayReport): void {
  console.log(`reply      ${report.messageId}`);
  console.log(`model      ${report.model} (${report.modelFile})`);
  console.log(`weights    sha256 ${report.modelSha256}`);
  console.log(`template   sha256 ${report.templateSha256 ?? "none"}`);
  console.log(
    `settings   temperature ${report.temperature}, top_p ${report.topP}, thinking ${String(report.thinking)}, seed ${report.seed}`,
  );
  console.log(
    `tokens     stored ${report.storedTokens}, replayed ${report.replayedTokens} ` +
      `(generated: ${report.generatedTokens.stored ?? "?"} then, ${report.generatedTokens.replayed} now)`,
  );
  if (report.identical) {
    console.log("result     identical, token for token");
  } else {
    console.log("result     NOT identical");
    const difference = report.difference;
    if (difference) {
      console.log(`first differing token: #${difference.tokenIndex}`);
      console.log(`  stored:   ${JSON.stringify(difference.stored)}`);
      console.log(`  replayed: ${JSON.stringify(difference.replayed)}`);
    }
  }
  for (const note of report.notes) console.log(`note       ${note}`);
}
