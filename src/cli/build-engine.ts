// `qiusuo build-engine`: compiles llama.cpp for this machine's CPU, with OpenMP, from the source
// node-llama-cpp ships (a git bundle in its package: nothing is downloaded). The prebuilt CPU
// binaries are built without OpenMP and start their worker threads on every decode; this build
// keeps them, so a second thread speeds decoding up instead of slowing it down (docs/benchmarks.md,
// "Side by side with llama-server"). The server picks the build up at its next start.
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { ENGINE_BUILD_CMAKE_OPTIONS, getRuntime, disposeRuntime } from "../engines/local/llama-runtime.js";

export function registerBuildEngineCommand(program: Command): void {
  program
    .command("build-engine")
    .description(
      "compile llama.cpp for this CPU with OpenMP (offline, 5-15 minutes; needs cmake and a C++ compiler)",
    )
    .action(async () => {
      for (const tool of ["cmake", "c++"]) {
        if (spawnSync(tool, ["--version"], { stdio: "ignore" }).error) {
          throw new Error(
            `${tool} was not found. Install a C++ toolchain and CMake first ` +
              "(Debian/Ubuntu: apt-get install cmake g++), then run `qiusuo build-engine` again.",
          );
        }
      }
      const cli = path.join(
        path.dirname(fileURLToPath(import.meta.resolve("node-llama-cpp"))),
        "cli",
        "cli.js",
      );
      console.error("Compiling llama.cpp for this CPU (OpenMP on); this takes a few minutes.");
      const code = await run(
        process.execPath,
        [cli, "source", "download", "--gpu", "false", "--noUsageExample"],
        {
          ...process.env,
          ...Object.fromEntries(
            Object.entries(ENGINE_BUILD_CMAKE_OPTIONS).map(([name, value]) => [
              `NODE_LLAMA_CPP_CMAKE_OPTION_${name}`,
              value,
            ]),
          ),
        },
      );
      if (code !== 0) throw new Error(`the build failed (exit code ${code}); its output is above.`);
      // The proof that the server will use it: load the runtime the way the server does.
      const llama = await getRuntime({ gpu: "off", maxThreads: 0 });
      const used = llama.buildType;
      await disposeRuntime();
      if (used !== "localBuild") {
        throw new Error(
          "the build finished but llama.cpp still loads the prebuilt binary; please report this.",
        );
      }
      console.error(
        "Done: `qiusuo serve` now uses this build on the CPU (a GPU backend still takes precedence).",
      );
    });
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: "inherit", env });
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
