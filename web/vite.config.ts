/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The console is served by bunbased at "/" (src/platform/platform_web.c): hashed files under
// /assets/ are cached forever, index.html never. `npm run dev` proxies the API to a local bunbased.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: { outDir: 'dist', assetsDir: 'assets', emptyOutDir: true, sourcemap: false },
  server: {
    proxy: { '/v1': { target: 'http://localhost:3001', changeOrigin: false } },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
