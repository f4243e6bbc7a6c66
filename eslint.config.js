// One linter config. The layer rules keep DESIGN.md's architecture honest: only engines/local
// imports node-llama-cpp, only server/ imports fastify, only store/ imports the database drivers,
// and core/protocol import none of them.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const only = {
  "node-llama-cpp": "Only src/engines/local may import node-llama-cpp.",
  fastify: "Only src/server may import fastify.",
  "prom-client": "Only src/server may import prom-client.",
  kysely: "Only src/store may import kysely.",
  "better-sqlite3": "Only src/store may import better-sqlite3.",
  pg: "Only src/store may import pg.",
};
const database = ["kysely", "better-sqlite3", "pg"];

/** A no-restricted-imports rule that forbids the named packages. */
const forbid = (...names) => ({
  "no-restricted-imports": ["error", { paths: names.map((name) => ({ name, message: only[name] })) }],
});

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "test/fixtures/models/**", "scratch/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  { files: ["src/**/*.ts"], rules: forbid("node-llama-cpp", "fastify", "prom-client", ...database) },
  { files: ["src/engines/local/**/*.ts"], rules: forbid("fastify", "prom-client", ...database) },
  { files: ["src/server/**/*.ts"], rules: forbid("node-llama-cpp", ...database) },
  { files: ["src/store/**/*.ts"], rules: forbid("node-llama-cpp", "fastify", "prom-client") },
  // Tests read JSON bodies whose shape they assert on.
  { files: ["test/**/*.ts", "bench/**/*.ts"], rules: { "@typescript-eslint/no-explicit-any": "off" } },
);
