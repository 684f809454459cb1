// Vitest for the web UI's pure helpers (tests/web/test_*.mjs; each ctest web/<name> runs one
// file). Plain node: the helpers touch neither the DOM nor Vue. The tests live outside web/,
// hence the repository as root (the cache stays in web/node_modules) and no file-system fence.
import { defineConfig } from 'vitest/config'
import { fileURLToPath } from 'node:url'

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  cacheDir: fileURLToPath(new URL('node_modules/.vite-vitest', import.meta.url)),
  server: { fs: { strict: false } },
  test: {
    include: ['tests/web/test_*.mjs'],
    environment: 'node',
    watch: false,
  },
})
