import { describe, expect, it } from 'vitest';
import { isOwnPage } from '../../src/main/trust';

describe('isOwnPage', () => {
  const built = 'file:///opt/Chord/resources/app.asar/out/renderer/index.html';

  it('accepts the built renderer, with or without a hash or query', () => {
    expect(isOwnPage(built, built)).toBe(true);
    expect(isOwnPage(`${built}#/gallery`, built)).toBe(true);
    expect(isOwnPage(`${built}?tab=2`, built)).toBe(true);
  });

  it('refuses other local files and remote pages', () => {
    expect(isOwnPage('file:///home/me/Downloads/evil.html', built)).toBe(false);
    expect(isOwnPage('https://example.com/', built)).toBe(false);
    expect(isOwnPage('not a url', built)).toBe(false);
  });

  it('accepts any page of the dev server, and only of it', () => {
    const dev = 'http://localhost:5173/';
    expect(isOwnPage('http://localhost:5173/index.html', dev)).toBe(true);
    expect(isOwnPage('http://localhost:5174/', dev)).toBe(false);
    expect(isOwnPage('http://127.0.0.1:5173/', dev)).toBe(false);
    expect(isOwnPage(built, dev)).toBe(false);
  });
});
