// The chat app's build: `npm run build:web` writes dist/web, which src/server/routes/web.ts serves.
// `npx vite --config src/web/vite.config.ts` runs a dev server that proxies the API to :8080.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));
const server = "http://127.0.0.1:8080";

export default defineConfig({
  root: here("."),
  publicDir: here("public"),
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: here("../../dist/web"),
    emptyOutDir: true,
    target: "es2022",
    // Modern Chromium, Firefox and Safari all support modulepreload; the polyfill would only add bytes.
    modulePreload: { polyfill: false },
    // pdf.js and KaTeX are big but load only when used; the initial bundle is checked by bench/web.ts.
    chunkSizeWarningLimit: 1600,
    reportCompressedSize: false,
    // Never inline assets as data: URLs: the CSP allows fonts and scripts from 'self' only.
    assetsInlineLimit: 0,
  },
  server: { proxy: { "/api": server, "/v1": server, "/health": server } },
});
