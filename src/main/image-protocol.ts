/**
 * `chord-image:` — how the window loads gallery images and LoRA previews: only files the studio
 * names (a plain PNG name in the gallery folder, a LoRA's own preview), nothing else on disk.
 *   chord-image://gallery/<file name>     chord-image://lora/<LoRA id>
 */
import { net, protocol } from 'electron';
import { pathToFileURL } from 'node:url';

export const IMAGE_SCHEME = 'chord-image';

/** Must run before the app is ready. */
export function registerImageScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: IMAGE_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: false } }]);
}

export const imageUrls = {
  image: (name: string) => `${IMAGE_SCHEME}://gallery/${encodeURIComponent(name)}`,
  loraPreview: (id: string) => `${IMAGE_SCHEME}://lora/${encodeURIComponent(id)}`,
};

/** Which file a `chord-image:` URL stands for, or undefined (pure, so it is tested without Electron). */
export function imageFileOf(
  url: string,
  lookup: { galleryFile: (name: string) => string | undefined; loraPreviewFile: (id: string) => string | null },
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
  return undefined;
}

export function handleImageProtocol(lookup: Parameters<typeof imageFileOf>[1]): void {
  protocol.handle(IMAGE_SCHEME, (request) => {
    const file = imageFileOf(request.url, lookup);
    if (!file) return new Response('Not found', { status: 404 });
    return net.fetch(pathToFileURL(file).href);
  });
}
