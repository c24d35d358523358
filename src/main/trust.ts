/**
 * Which pages may call the API or be navigated to: only Chord's own renderer. Pure, so it is
 * tested without Electron.
 */

/** True when `pageUrl` is the renderer Chord loaded from `rendererUrl` (file or dev server). */
export function isOwnPage(pageUrl: string, rendererUrl: string): boolean {
  const page = safeUrl(pageUrl);
  const own = safeUrl(rendererUrl);
  if (!page || !own) return false;
  // A packaged renderer is one file: anything else on file:// is someone else's page.
  if (own.protocol === 'file:') return page.protocol === 'file:' && page.pathname === own.pathname;
  return page.origin === own.origin;
}

function safeUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
