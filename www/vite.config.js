// Builds the demo into www/dist, which the relay serves at `/` (scripts/build-www.sh).
import { defineConfig } from 'vite';

export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  // The package is a local folder with its own node_modules: one CodeMirror for everyone.
  resolve: { dedupe: ['@codemirror/state', '@codemirror/view'] },
  optimizeDeps: { exclude: ['tandem-client'] },
});
