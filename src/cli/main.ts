#!/usr/bin/env node
import { Command } from "commander";
import { ConfigError } from "../config/config.js";
import { registerAuditCommand } from "./audit.js";
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
  .showHelpAfterError();

registerServeCommand(program);
registerPullCommand(program);
registerRunCommand(program);
registerLsCommand(program);
registerRmCommand(program);
registerUsersCommand(program);
registerKeysCommand(program);
registerAuditCommand(program);
registerReplayCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  console.error(
    error instanceof ConfigError
      ? error.message
      : `error: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
