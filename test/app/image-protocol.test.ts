import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { app } from '../../src/engine';
import { imageFileOf, imageUrls } from '../../src/main/image-urls';

const root = mkdtempSync(join(tmpdir(), 'chord-protocol-'));
mkdirSync(join(root, 'gallery'));
writeFileSync(join(root, 'gallery', '00001-7.png'), 'x');
afterAll(() => rmSync(root, { recursive: true, force: true }));
const gallery = new app.Gallery(join(root, 'gallery'), imageUrls.image);
const lookup = { galleryFile: (n: string) => gallery.fileOf(n), loraPreviewFile: (id: string) => (id === 'abc' ? '/loras/zorb.png' : null) };

describe('chord-image: protocol', () => {
  it('maps gallery and preview URLs to their files', () => {
    expect(imageFileOf(imageUrls.image('00001-7.png'), lookup)).toBe(join(root, 'gallery', '00001-7.png'));
    expect(imageFileOf(imageUrls.loraPreview('abc'), lookup)).toBe('/loras/zorb.png');
  });

  it.each([
    'chord-image://gallery/..%2F..%2Fetc%2Fpasswd',
    'chord-image://gallery/%2e%2e%2fqueue.json',
    'chord-image://gallery/.hidden.png',
    'chord-image://gallery/sub/00001-7.png',
    'chord-image://elsewhere/00001-7.png',
    'chord-image://lora/unknown',
    'file:///etc/passwd',
    'chord-image://gallery/%E0%A4%A',
    'not a url',
  ])('refuses %s', (url) => {
    expect(imageFileOf(url, lookup)).toBeUndefined();
  });

  it('keeps a URL with dot segments inside the gallery (the URL parser drops them first)', () => {
    expect(imageFileOf('chord-image://gallery/../../secret.png', lookup)).toBe(join(root, 'gallery', 'secret.png'));
  });
});
