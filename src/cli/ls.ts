import path from "node:path";
import type { Command } from "commander";
import { resolveDataDir } from "../config/config.js";
import { inspectGgufFile } from "../engines/local/gguf-file.js";
import { modelsDir } from "../engines/local/model-paths.js";
import { localModelFiles } from "./model-sources.js";

export function registerLsCommand(program: Command): void {
  program
    .command("ls")
    .description("list local models with size, quantization, context length and architecture")
    .option("--data-dir <dir>", "where models live (default ~/.qiusuo)")
    .action(async (flags: { dataDir?: string }) => {
      const dataDir = resolveDataDir(flags.dataDir);
      const files = await localModelFiles(dataDir);
      if (files.length === 0) {
        console.log(`No models in ${modelsDir(dataDir)}. Run \`qiusuo pull deepseek-r1:1.5b\` to get one.`);
        return;
      }
      const rows = [["NAME", "SIZE", "QUANT", "CONTEXT", "ARCH", "PARAMS"]];
      for (const file of files) {
        const name = path.basename(file).replace(/\.gguf$/i, "");
        try {
          const info = await inspectGgufFile(file);
          rows.push([
            name,
            formatBytes(info.fileSize),
            info.quantization ?? "?",
            info.contextLength ? String(info.contextLength) : "?",
            info.architecture ?? "?",
            formatCount(info.parameterCount),
          ]);
        } catch (error) {
          rows.push([name, "-", "invalid", "-", "-", error instanceof Error ? error.message : String(error)]);
        }
      }
      const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
      for (const row of rows)
        console.log(
          row
            .map((cell, column) => cell.padEnd(widths[column]!))
            .join("  ")
            .trimEnd(),
        );
    });
}

function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(1)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${(bytes / 1e3).toFixed(1)} KB`;
}

function formatCount(count: number): string {
  if (count >= 1e9) return `${(count / 1e9).toFixed(1)}B`;
  if (count >= 1e6) return `${(count / 1e6).toFixed(1)}M`;
  return `${(count / 1e3).toFixed(1)}K`;
}
