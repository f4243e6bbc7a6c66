import type { Command } from "commander";
import { resolveDataDir, resolveHuggingFace, resolveModelCatalog } from "../config/config.js";
import { pullModel } from "../engines/local/model-pull.js";
import { createProgressBar } from "./progress-bar.js";

export function registerPullCommand(program: Command): void {
  program
    .command("pull")
    .description("download a model: a catalog alias (deepseek-r1:1.5b) or hf:OWNER/REPO/FILE.gguf")
    .argument("<model>", "alias or hf: reference")
    .option("--data-dir <dir>", "where models live (default ~/.qiusuo)")
    .action(async (model: string, flags: { dataDir?: string }) => {
      const huggingFace = resolveHuggingFace();
      const catalogOverrides = resolveModelCatalog();
      const bar = createProgressBar(`pulling ${model}`);
      const controller = new AbortController();
      // The first Ctrl-C stops the download and keeps what it got; a second one ends at once.
      process.once("SIGINT", () => controller.abort());
      try {
        const result = await pullModel({
          reference: model,
          dataDir: resolveDataDir(flags.dataDir),
          huggingFaceEndpoint: huggingFace.endpoint,
          catalogOverrides,
          ...(huggingFace.token ? { headers: { authorization: `Bearer ${huggingFace.token}` } } : {}),
          signal: controller.signal,
          onProgress: (progress) => bar.update(progress),
        });
        bar.done(`saved ${result.path} (${(result.bytes / 1e6).toFixed(1)} MB, sha256 ${result.sha256})`);
      } catch (error) {
        bar.done("failed");
        if (controller.signal.aborted) {
          console.error("Interrupted; run the same command again to resume.");
          process.exit(130);
        }
        throw error;
      }
    });
}
