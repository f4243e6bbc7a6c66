import { randomInt } from "node:crypto";
import readline from "node:readline/promises";
import type { Command } from "commander";
import { PLAIN_TEXT_OPTIONS, type ChatMessage } from "../core/chat.js";
import { effectiveThreads, loadServeConfig, type ServeFlags } from "../config/config.js";
import type { LocalEngine } from "../engines/local/local-engine.js";
import { pullModel } from "../engines/local/model-pull.js";
import { resolveModelSource } from "./model-sources.js";
import { createProgressBar } from "./progress-bar.js";

const DIM = "\x1b[2m";
const RESET = "\x1b[0m";

export function registerRunCommand(program: Command): void {
  program
    .command("run")
    .description("chat with a model in the terminal (reasoning shown dimmed)")
    .argument("<model>", "model file, alias or hf: reference")
    .option("--data-dir <dir>", "where models live (default ~/.qiusuo)")
    .option("--ctx-size <tokens>", "context size")
    .option("--threads <n>", "CPU threads")
    .option("--gpu <auto|off>", "use a GPU if one is found")
    .action(async (model: string, flags: ServeFlags) => {
      const config = loadServeConfig({ ...flags, model: [model] });
      const source = await resolveModelSource(model, config.dataDir, config.modelCatalog);
      if (source.kind === "pull") {
        const bar = createProgressBar(`pulling ${model}`);
        await pullModel({
          reference: model,
          dataDir: config.dataDir,
          huggingFaceEndpoint: config.huggingFaceEndpoint,
          catalogOverrides: config.modelCatalog,
          onProgress: (progress) => bar.update(progress),
        });
        bar.done("downloaded");
      }
      // Loaded here, not at the top, so other commands start without llama.cpp.
      const { LocalEngine } = await import("../engines/local/local-engine.js");
      const { disposeRuntime } = await import("../engines/local/llama-runtime.js");
      const engine = new LocalEngine({ ...config, parallel: 1, threads: effectiveThreads(config) });
      process.stderr.write(`loading ${source.path}...\n`);
      const info = await engine.addModelFile(source.path, source.aliases, { preload: true });
      await chatLoop(engine, info.id);
      await engine.dispose();
      await disposeRuntime();
    });
}

async function chatLoop(engine: LocalEngine, model: string): Promise<void> {
  const terminal = readline.createInterface({ input: process.stdin, output: process.stdout });
  const messages: ChatMessage[] = [];
  console.log(`${DIM}Chatting with ${model}. Ctrl+C stops a reply; /bye or Ctrl+D quits.${RESET}`);
  let controller: AbortController | undefined;
  terminal.on("SIGINT", () => {
    if (controller) controller.abort();
    else terminal.close();
  });
  for (;;) {
    let line: string;
    try {
      line = await terminal.question(">>> ");
    } catch {
      break; // input closed
    }
    if (line.trim() === "/bye") break;
    if (line.trim() === "") continue;
    messages.push({ role: "user", content: line });
    controller = new AbortController();
    let answer = "";
    let thinking = false;
    try {
      const events = await engine.chat(
        {
          model,
          messages,
          sampling: {
            temperature: 0.6,
            topP: 0.95,
            seed: randomInt(2 ** 31 - 1),
            frequencyPenalty: 0,
            presencePenalty: 0,
          },
          maxTokens: undefined,
          stop: [],
          thinking: undefined,
          ...PLAIN_TEXT_OPTIONS,
        },
        controller.signal,
      );
      for await (const event of events) {
        if (event.type === "reasoning-delta") {
          if (!thinking) process.stdout.write(`${DIM}Thinking...\n`);
          thinking = true;
          process.stdout.write(event.text);
        } else if (event.type === "text-delta") {
          if (thinking) process.stdout.write(`${RESET}\n\n`);
          thinking = false;
          answer += event.text;
          process.stdout.write(event.text);
        }
      }
    } catch (error) {
      process.stdout.write(`${RESET}\nerror: ${error instanceof Error ? error.message : String(error)}`);
    }
    process.stdout.write(`${RESET}\n\n`);
    controller = undefined;
    messages.push({ role: "assistant", content: answer });
  }
  terminal.close();
}
