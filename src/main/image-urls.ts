/**
 * URLs of the `chord-image:` protocol and the one check every request goes through. No Electron
 * import, so it is tested in plain Node.
 */
export const IMAGE_SCHEME = 'chord-image';

export const imageUrls = {
  image: (name: string) => `${IMAGE_SCHEME}://gallery/${encodeURIComponent(name)}`,
  loraPreview: (id: string) => `${IMAGE_SCHEME}://lora/${encodeURIComponent(id)}`,
  comparison: (name: string) => `${IMAGE_SCHEME}://comparison/${encodeURIComponent(name)}`,
};

/** Which file a `chord-image:` URL stands for, or undefined (pure, so it is tested without Electron). */
export function imageFileOf(
  url: string,
  lookup: {
    galleryFile: (name: string) => string | undefined;
    loraPreviewFile: (id: string) => string | null;
    /** exported comparison grids */
    comparisonFile?: (name: string) => string | undefined;
  },
): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== `${IMAGE_SCHEME}:`) return undefined;
  let name: string;
  try {
    name = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  } catch {
    return undefined;
  }
  if (parsed.hostname === 'gallery') return lookup.galleryFile(name);
  if (parsed.hostname === 'lora') return lookup.loraPreviewFile(name) ?? undefined;
  if (parsed.hostname === 'comparison') return lookup.comparisonFile?.(name);
  return undefined;
}

