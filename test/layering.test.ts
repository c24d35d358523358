/**
 * The layering rule of docs/layering.md, checked over every import in src/: a file may import
 * only what its layer is allowed to see. Imports are read with TypeScript's own pre-processor
 * (static, `export … from`, dynamic `import()` and `require()`; comments and strings are not
 * mistaken for imports), type-only imports included: a type names the module it comes from.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve('src');
const LAYERS = ['engine', 'main', 'preload', 'renderer', 'server', 'shared'] as const;
type Layer = (typeof LAYERS)[number];

/** What each layer may import from src/ besides itself; `engine-api` is src/engine/index.ts alone. */
const ALLOWED: Record<Layer, ReadonlyArray<Layer | 'engine-api'>> = {
  engine: [],
  shared: [],
  renderer: ['shared'],
  preload: ['shared', 'engine-api'],
  main: ['shared', 'engine-api'],
  server: ['shared', 'engine-api'],
};

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs|svelte)$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return SOURCE.test(e.name) ? [path] : [];
  });
}

/** Module specifiers a file imports (its <script> blocks for .svelte). */
function importsOf(path: string, text = readFileSync(path, 'utf8')): string[] {
  const code = path.endsWith('.svelte') ? [...text.matchAll(/<script[^>]*>([\s\S]*?)<\/script>/g)].map((m) => m[1]).join('\n') : text;
  return ts.preProcessFile(code, true, true).importedFiles.map((f) => f.fileName);
}

/** The layer of a path under src/, and whether it is the engine's public entry. */
function layerOf(path: string): { layer: Layer; publicApi: boolean } | undefined {
  const rel = relative(SRC, path);
  if (rel.startsWith('..')) return undefined;
  const layer = rel.split(sep)[0] as Layer;
  if (!LAYERS.includes(layer)) return undefined;
  const publicApi = layer === 'engine' && /^engine(\/index(\.ts)?)?$/.test(rel.split(sep).join('/'));
  return { layer, publicApi };
}

/** Every import that breaks the rule, as "from -> specifier (reason)". */
function violations(files: readonly string[], read: (path: string) => string = (p) => readFileSync(p, 'utf8')): string[] {
  const out: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    if (!from) continue;
    for (const spec of importsOf(file, read(file))) {
      if (!spec.startsWith('.')) continue; // packages and node: builtins
      const target = layerOf(resolve(dirname(file), spec));
      const where = `${relative(SRC, file).split(sep).join('/')} -> ${spec}`;
      if (!target) {
        out.push(`${where} (outside src/)`);
        continue;
      }
      if (target.layer === from.layer) continue;
      const ok = ALLOWED[from.layer].includes(target.layer) || (target.publicApi && ALLOWED[from.layer].includes('engine-api'));
      if (!ok) out.push(`${where} (${from.layer} may import ${ALLOWED[from.layer].join(', ') || 'nothing outside itself'})`);
    }
  }
  return out;
}

describe('layering', () => {
  it('every import in src/ follows docs/layering.md', () => {
    const files = sourceFiles(SRC);
    expect(files.length).toBeGreaterThan(90);
    expect(violations(files)).toEqual([]);
  });

  it('the check catches each kind of break (on made-up files)', () => {
    const fake: Record<string, string> = {
      [join(SRC, 'main', 'a.ts')]: "import { ChordError } from '../engine/errors';\nimport { x } from '../engine';\nimport { y } from '../engine/index';",
      [join(SRC, 'preload', 'b.ts')]: "import type { T } from '../renderer/lib/t';",
      [join(SRC, 'renderer', 'lib', 'c.ts')]: "const m = await import('../../engine');\nimport { api } from '../../shared/api';",
      [join(SRC, 'renderer', 'D.svelte')]: "<script lang=\"ts\">\n  import { e } from '../main/ipc';\n</script>\n<p>import x from '../engine'</p>",
      [join(SRC, 'engine', 'e.ts')]: "export { s } from '../shared/api';\n// import { no } from '../main/ipc';\nimport { ok } from './errors';",
      [join(SRC, 'shared', 'f.ts')]: "const r = require('../engine/errors');",
      [join(SRC, 'engine', 'g.ts')]: "import { t } from '../../test/helpers';",
    };
    expect(violations(Object.keys(fake), (p) => fake[p])).toEqual([
      'main/a.ts -> ../engine/errors (main may import shared, engine-api)',
      'preload/b.ts -> ../renderer/lib/t (preload may import shared, engine-api)',
      'renderer/lib/c.ts -> ../../engine (renderer may import shared)',
      'renderer/D.svelte -> ../main/ipc (renderer may import shared)',
      'engine/e.ts -> ../shared/api (engine may import nothing outside itself)',
      'shared/f.ts -> ../engine/errors (shared may import nothing outside itself)',
      'engine/g.ts -> ../../test/helpers (outside src/)',
    ]);
  });
});
