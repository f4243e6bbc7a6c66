import path from "node:path";
import type { Command } from "commander";
import { effectiveThreads, loadServeConfig, type ServeConfig, type ServeFlags } from "../config/config.js";
import type { AuditReport } from "../audit/report.js";
import { identityLabel } from "../audit/identity.js";
import { DEFAULT_AUDIT_MAX_TOKENS, DEFAULT_LIKELIHOOD_TOKENS, runAudit } from "../audit/run-audit.js";
import { auditsDir, writeAuditReport } from "../audit/report-files.js";
import { modelIdForFile } from "../engines/local/model-paths.js";
import { resolveModelSource } from "./model-sources.js";

interface AuditFlags extends ServeFlags {
  out?: string;
  json?: boolean;
  embeddingModel?: string;
  prompts?: string;
  maxTokens?: string;
  likelihoodTokens?: string;
}

export function registerAuditCommand(program: Command): void {
  program
    .command("audit")
    .description(
      "compare two models' identity claims, answers and likelihoods; writes an HTML and a JSON report",
    )
    .argument("<a>", "model A: a file, alias, id in the data dir, or POOL/id of an upstream")
    .argument("<b>", "model B, named the same ways")
    .option("--data-dir <dir>", "where models live (default ~/.qiusuo)")
    .option("--upstream <NAME=URL[,URL...]>", "an OpenAI-compatible upstream pool (repeatable)", collect, [])
    .option("--config <file>", "a JSON file with settings, upstream pools and model aliases")
    .option("--out <dir>", "where to write the report (default the data dir's audits/)")
    .option("--json", "print the summary as JSON")
    .option("--embedding-model <model>", "also compare answers by the cosine of this model's embeddings")
    .option("--prompts <n>", "use only the first N prompts of each set (default all)")
    .option("--max-tokens <n>", `most tokens per answer (default ${DEFAULT_AUDIT_MAX_TOKENS})`)
    .option(
      "--likelihood-tokens <n>",
      `most tokens of each answer scored for likelihood (default ${DEFAULT_LIKELIHOOD_TOKENS})`,
    )
    .option("--ctx-size <tokens>", "context size per model (default: the model's, at most 8192)")
    .option("--threads <n>", "CPU threads")
    .option("--gpu <auto|off>", "use a GPU if one is found")
    .action(async (a: string, b: string, flags: AuditFlags) => {
      const config = loadServeConfig(flags);
      const numbers = {
        prompts: positive(flags.prompts, "--prompts"),
        maxTokens: positive(flags.maxTokens, "--max-tokens"),
        likelihoodTokens: positive(flags.likelihoodTokens, "--likelihood-tokens"),
      };
      await audit(config, { a, b, flags, ...numbers });
    });
}

async function audit(
  config: ServeConfig,
  options: {
    a: string;
    b: string;
    flags: AuditFlags;
    prompts: number | undefined;
    maxTokens: number | undefined;
    likelihoodTokens: number | undefined;
  },
): Promise<void> {
  // Loaded here, not at the top, so other commands start without llama.cpp.
  const [{ LocalEngine }, { disposeRuntime }, { buildEngines }] = await Promise.all([
    import("../engines/local/local-engine.js"),
    import("../engines/local/llama-runtime.js"),
    import("../host/engines.js"),
  ]);
  const local = new LocalEngine({
    contextSize: config.contextSize,
    parallel: 1,
    threads: effectiveThreads(config),
    gpu: config.gpu,
    idleUnloadSeconds: 0,
    maxLoadedModels: 3, // A, B and an embedding model: no reloading between prompts
  });
  const { router, remotes } = buildEngines(config, { local });
  try {
    await Promise.all(remotes.map((remote) => remote.discover()));
    const names = [
      options.a,
      options.b,
      ...(options.flags.embeddingModel ? [options.flags.embeddingModel] : []),
    ];
    const ids = await registerLocalModels(local, names, config, (name) => router.route(name));
    const [a, b, embeddingModel] = ids as [string, string, string | undefined];
    for (const name of ids) if (name !== undefined) router.route(name); // unknown names fail before any work
    const report = await runAudit(router, {
      a,
      b,
      ...(embeddingModel ? { embeddingModel } : {}),
      ...(options.prompts ? { prompts: options.prompts } : {}),
      ...(options.maxTokens ? { maxTokens: options.maxTokens } : {}),
      ...(options.likelihoodTokens ? { likelihoodTokens: options.likelihoodTokens } : {}),
      onProgress: ({ done, total, phase }) => {
        const line = `audit: ${done}/${total} (${phase})`;
        if (process.stderr.isTTY) process.stderr.write(`\r${line}${done === total ? "\n" : ""}`);
        else if (done === total || done % 10 === 0) process.stderr.write(`${line}\n`);
      },
    });
    report.models.a.name = options.a;
    report.models.b.name = options.b;
    const out = path.resolve(options.flags.out ?? auditsDir(config.dataDir));
    const files = await writeAuditReport(out, report);
    if (options.flags.json) console.log(JSON.stringify({ ...summary(report), files }, null, 2));
    else printSummary(report, files);
  } finally {
    await router.dispose();
    await disposeRuntime();
  }
}

/**
 * Registers the local models among `names` (files, catalog aliases, names in the data dir) with
 * the local engine, and returns the id each name is served as; upstream names (`POOL/id`) pass
 * through as they are. Nothing is downloaded: an audit of a model not pulled yet says so.
 */
async function registerLocalModels(
  local: import("../engines/local/local-engine.js").LocalEngine,
  names: string[],
  config: ServeConfig,
  route: (name: string) => unknown,
): Promise<Array<string | undefined>> {
  const paths = new Map<string, string>();
  const ids: string[] = [];
  for (const name of names) {
    const pool = name.split("/")[0]!;
    if (name.includes("/") && pool in config.upstreams) {
      ids.push(name);
      continue;
    }
    let source: Awaited<ReturnType<typeof resolveModelSource>>;
    try {
      source = await resolveModelSource(name, config.dataDir, config.modelCatalog);
    } catch (error) {
      // Not a local file: an admin alias or a bare upstream id may still name a model.
      try {
        route(name);
      } catch {
        throw error;
      }
      ids.push(name);
      continue;
    }
    if (source.kind === "pull") {
      throw new Error(`The model '${name}' is not downloaded yet: run \`qiusuo pull ${name}\` first.`);
    }
    const id = modelIdForFile(source.path);
    const known = paths.get(id);
    if (known !== undefined && known !== source.path) {
      throw new Error(
        `${known} and ${source.path} have the same file name, so they would be served under one id (${id}); copy one under another name.`,
      );
    }
    if (known === undefined) {
      process.stderr.write(`loading ${source.path}...\n`);
      await local.addModelFile(source.path, source.aliases, { preload: true });
      paths.set(id, source.path);
    }
    ids.push(id);
  }
  return ids;
}

function summary(report: AuditReport) {
  const { likelihood } = report;
  return {
    a: report.models.a,
    b: report.models.b,
    identity: report.identity.distribution,
    behaviour: {
      prompts: report.behaviour.rows.length,
      identicalAnswers: report.behaviour.identicalAnswers,
      overlap: report.behaviour.overlap,
      embedding: report.behaviour.embedding,
    },
    likelihood: likelihood.available
      ? {
          aUnderA: likelihood.aUnderA?.perToken,
          aUnderB: likelihood.aUnderB?.perToken,
          bUnderA: likelihood.bUnderA?.perToken,
          bUnderB: likelihood.bUnderB?.perToken,
        }
      : { unavailable: likelihood.reason },
  };
}

function printSummary(report: AuditReport, files: { html: string; json: string }): void {
  const claims = (side: "a" | "b") =>
    report.identity.distribution[side]
      .map((entry) => `${identityLabel(entry.identity)} ×${entry.count}`)
      .join(", ");
  const fixed = (value: number | undefined) => (value === undefined ? "—" : value.toFixed(3));
  const { behaviour, likelihood } = report;
  console.log(`A ${report.models.a.name} claims: ${claims("a")}`);
  console.log(`B ${report.models.b.name} claims: ${claims("b")}`);
  console.log(
    `answers: overlap mean ${fixed(behaviour.overlap?.mean)} (median ${fixed(behaviour.overlap?.median)}), ` +
      `${behaviour.identicalAnswers}/${behaviour.rows.length} identical` +
      (behaviour.embedding ? `, embedding cosine mean ${fixed(behaviour.embedding.mean)}` : ""),
  );
  if (likelihood.available) {
    console.log(
      `likelihood (nats/token): A's answers ${fixed(likelihood.aUnderA?.perToken)} under A, ${fixed(likelihood.aUnderB?.perToken)} under B; ` +
        `B's answers ${fixed(likelihood.bUnderB?.perToken)} under B, ${fixed(likelihood.bUnderA?.perToken)} under A`,
    );
  } else {
    console.log(`likelihood: not measured (${likelihood.reason})`);
  }
  console.log(`report: ${files.html}`);
  console.log(`data:   ${files.json}`);
}

function positive(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1)
    throw new Error(`${flag} must be a whole number of at least 1.`);
  return parsed;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
