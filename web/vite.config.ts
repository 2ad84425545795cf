import { defineConfig } from 'vite';

// The build is embedded in the `deconflict` binary (crates/server/src/ui.rs),
// which serves index.html at / and the hashed files under /assets/.
export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    emptyOutDir: true,
    // The basemap (Natural Earth TopoJSON) stays a separate, cacheable file.
    assetsInlineLimit: 4096,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    // `npm run dev` against a service on the default port.
    proxy: {
      '/v1': 'http://127.0.0.1:8082',
      '/dss': 'http://127.0.0.1:8082',
    },
  },
});
