/**
 * `chord-image:` — how the window loads gallery images and LoRA previews: only files the studio
 * names (a plain PNG name in the gallery folder, a LoRA's own preview), nothing else on disk.
 *   chord-image://gallery/<file name>     chord-image://lora/<LoRA id>
 *   chord-image://comparison/<exported grid name>
 */
import { net, protocol } from 'electron';
import { pathToFileURL } from 'node:url';
import { IMAGE_SCHEME, imageFileOf } from './image-urls';

export { IMAGE_SCHEME, imageFileOf, imageUrls } from './image-urls';

/** Must run before the app is ready. */
export function registerImageScheme(): void {
  protocol.registerSchemesAsPrivileged([{ scheme: IMAGE_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: false } }]);
}

export function handleImageProtocol(lookup: Parameters<typeof imageFileOf>[1]): void {
  protocol.handle(IMAGE_SCHEME, (request) => {
    const file = imageFileOf(request.url, lookup);
    if (!file) return new Response('Not found', { status: 404 });
    return net.fetch(pathToFileURL(file).href);
  });
}
