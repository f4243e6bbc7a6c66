// One linter config. The layer rules keep the architecture of DESIGN.md honest:
// only engines/local imports node-llama-cpp, only server/ imports fastify.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const restrict = (names, message) => ({
  "no-restricted-imports": ["error", { paths: names.map((name) => ({ name, message })) }],
});

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "test/fixtures/models/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/engines/local/**"],
    rules: restrict(["node-llama-cpp"], "Only src/engines/local may import node-llama-cpp."),
  },
  {
    files: ["src/core/**/*.ts", "src/protocol/**/*.ts", "src/engines/**/*.ts", "src/config/**/*.ts"],
    rules: restrict(
      ["node-llama-cpp", "fastify"].filter((name) => name !== "node-llama-cpp"),
      "Only src/server may import fastify.",
    ),
  },
);
