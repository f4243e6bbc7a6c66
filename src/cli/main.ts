#!/usr/bin/env node
import { Command } from "commander";
import { ConfigError } from "../config/config.js";
import { registerAuditCommand } from "./audit.js";
import { registerBuildEngineCommand } from "./build-engine.js";
import { registerKeysCommand } from "./keys.js";
import { registerLsCommand } from "./ls.js";
import { registerPullCommand } from "./pull.js";
import { registerReplayCommand } from "./replay.js";
import { registerRmCommand } from "./rm.js";
import { registerRunCommand } from "./run.js";
import { registerServeCommand } from "./serve.js";
import { registerUsersCommand } from "./users.js";

const program = new Command()
  .name("qiusuo")
  .description("求索 qiusuo: a self-hosted, DeepSeek-compatible AI server")
  .showHelpAfterError()
  .addHelpText(
    "after",
    `
\`qiusuo serve\` is one process with the chat app at / (conversations, DeepThink, files, projects,
share links, an admin panel) and these APIs on the same port (default http://127.0.0.1:8080):
  DeepSeek / OpenAI   /chat/completions, /v1/..., /beta/completions (FIM), /v1/embeddings, /v1/models
  OpenAI Responses    /v1/responses
  Anthropic Messages  /anthropic/v1/messages
  Ollama              /api/chat, /api/generate, /api/tags, /api/pull, /api/embed, ...
  Rerank              /v1/rerank
  /health, /metrics

Examples:
  qiusuo serve                                 pull the default model on first run, then serve
  qiusuo serve -m ./model.gguf --parallel 4    serve a local GGUF file
  qiusuo serve --upstream vllm=http://gpu1:8000/v1,http://gpu2:8000/v1
  qiusuo pull qwen2.5:0.5b && qiusuo run qwen2.5:0.5b
  qiusuo users add alice --admin --password-stdin
  qiusuo build-engine                          compile llama.cpp for this CPU (faster with 2+ threads)

Documentation: docs/api.md, docs/deployment.md, docs/privacy.md in the source tree.`,
  );

registerServeCommand(program);
registerPullCommand(program);
registerRunCommand(program);
registerLsCommand(program);
registerRmCommand(program);
registerUsersCommand(program);
registerKeysCommand(program);
registerAuditCommand(program);
registerReplayCommand(program);
registerBuildEngineCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(
    error instanceof ConfigError
      ? error.message
      : `error: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
