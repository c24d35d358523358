/**
 * Builds the three parts of the desktop app into out/ (package.json "main" is out/main/index.js):
 * - main: ESM on Electron's Node. Every package.json dependency stays external (electron-vite's
 *   default), so native modules (onnxruntime-node, sharp) load from node_modules at run time;
 *   they are named again below so that holds even if that default is turned off.
 * - preload: one self-contained CommonJS file, because a sandboxed preload cannot be an ES module
 *   nor require anything but 'electron'.
 * - renderer: the Svelte 5 UI from src/renderer/index.html.
 */
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'electron-vite';

const NATIVE_MODULES = ['onnxruntime-node', 'sharp'];

export default defineConfig({
  main: {
    build: {
      externalizeDeps: { include: NATIVE_MODULES },
      // the engine's utility process is an entry of its own (out/main/engine-process.js)
      rolldownOptions: {
        input: { index: 'src/main/index.ts', 'engine-process': 'src/main/engine-process.ts' },
      },
    },
  },
  preload: {
    build: {
      // Bundle everything: a sandboxed preload has no node_modules to require from.
      externalizeDeps: false,
      rolldownOptions: {
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    plugins: [svelte()],
  },
});
