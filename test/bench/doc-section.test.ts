/** The benches' generated doc sections (bench/doc-section.ts). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeDocSection } from '../../bench/doc-section';

describe('writeDocSection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'chord-doc-section-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('replaces only what lies between its own markers, markers kept', () => {
    const file = join(dir, 'doc.md');
    writeFileSync(file, 'intro\n<!-- a:begin -->\nold\n<!-- a:end -->\nmiddle\n<!-- b:begin -->\nkeep\n<!-- b:end -->\n');
    writeDocSection(file, 'a', ['new 1', '', 'new 2']);
    expect(readFileSync(file, 'utf8')).toBe('intro\n<!-- a:begin -->\nnew 1\n\nnew 2\n<!-- a:end -->\nmiddle\n<!-- b:begin -->\nkeep\n<!-- b:end -->\n');
  });

  it('refuses a file without the markers and leaves it as it was', () => {
    const file = join(dir, 'plain.md');
    writeFileSync(file, 'no markers\n');
    expect(() => writeDocSection(file, 'a', ['x'])).toThrow(/plain\.md has no a markers/);
    expect(readFileSync(file, 'utf8')).toBe('no markers\n');
  });
});
