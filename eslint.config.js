// One linter config. The layer rules keep DESIGN.md's architecture honest: only engines/local
// imports node-llama-cpp, only server/ imports fastify, and core/protocol import neither.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const only = {
  "node-llama-cpp": "Only src/engines/local may import node-llama-cpp.",
  fastify: "Only src/server may import fastify.",
  "prom-client": "Only src/server may import prom-client.",
};

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
  { files: ["src/**/*.ts"], rules: forbid("node-llama-cpp", "fastify", "prom-client") },
  { files: ["src/engines/local/**/*.ts"], rules: forbid("fastify", "prom-client") },
  { files: ["src/server/**/*.ts"], rules: forbid("node-llama-cpp") },
  // Tests read JSON bodies whose shape they assert on.
  { files: ["test/**/*.ts", "bench/**/*.ts"], rules: { "@typescript-eslint/no-explicit-any": "off" } },
);
