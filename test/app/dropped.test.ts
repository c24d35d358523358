import { describe, expect, it } from 'vitest';
import { filesOf, type DropEntry } from '../../src/renderer/lib/dropped';

const file = (name: string): DropEntry => ({ isFile: true, isDirectory: false, name, file: (ok) => ok(new File([name], name)) });
function folder(name: string, children: DropEntry[], batch = 2): DropEntry {
  return {
    isFile: false,
    isDirectory: true,
    name,
    createReader: () => {
      let at = 0;
      return {
        readEntries: (ok) => {
          ok(children.slice(at, at + batch));
          at += batch;
        },
      };
    },
  };
}

describe('files of a drop', () => {
  it('walks dropped folders, reading entries in batches, skipping hidden folders', async () => {
    const drop = {
      entries: [file('a.safetensors'), folder('loras', [file('b.safetensors'), file('b.png'), folder('more', [file('c.safetensors')]), folder('.cache', [file('x.safetensors')])])],
      files: [],
    };
    expect((await filesOf(drop)).map((f) => f.name)).toEqual(['a.safetensors', 'b.safetensors', 'b.png', 'c.safetensors']);
  });

  it('uses the plain file list when no folder was dropped', async () => {
    const plain = [new File(['x'], 'x.png')];
    expect(await filesOf({ entries: [file('x.png')], files: plain })).toBe(plain);
    expect(await filesOf({ entries: [], files: plain })).toBe(plain);
  });
});
