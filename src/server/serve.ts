/**
 * `chord serve`: the app in a browser. Hosts the engine the way the desktop app does (in a process
 * of its own, restarted if it crashes), the LoRA library, queue and gallery in the app's data
 * folder, and the built page with the API over HTTP + WebSocket.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { app, ChordError, chordCacheDir, forkEngineProcess, RestartingEngine } from '../engine';
import { HTTP_COMPARISONS_PATH, HTTP_IMAGES_PATH, HTTP_LORA_PREVIEWS_PATH } from '../shared/channels';
import { createChordHttpServer, rendererIndex } from './http-server';

/** The package's root folder (src/server/ is two levels down). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const RENDERER_DIR = join(PACKAGE_ROOT, 'out', 'renderer');

export interface ServeOptions {
  host: string;
  port: number;
  token?: string;
  open?: boolean;
  /** library, queue, uploads and gallery; default chordDataDir() */
  dataDir?: string;
  cacheDir?: string;
  /** image pairs per LoRA when the window measures frequency profiles; default the profiler's (16) */
  profilePairs?: number;
  out: (line: string) => void;
  err: (line: string) => void;
}

/**
 * The app's data folder: CHORD_DATA_DIR when set; else $XDG_DATA_HOME/chord, ~/.local/share/chord
 * on Linux, ~/Library/Application Support/chord on macOS, %APPDATA%\chord on Windows.
 */
export function chordDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home = homedir()): string {
  if (env.CHORD_DATA_DIR) return env.CHORD_DATA_DIR;
  if (platform === 'win32' && env.APPDATA) return join(env.APPDATA, 'chord');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'chord');
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, 'chord');
  return join(home, '.local', 'share', 'chord');
}

export function isLoopback(host: string): boolean {
  return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '[::1]';
}

/** The newest modification time of the files under `dir` (0 when there are none). */
async function newestChange(dir: string): Promise<number> {
  let newest = 0;
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, await newestChange(path));
    else if (e.isFile()) newest = Math.max(newest, (await stat(path)).mtimeMs);
  }
  return newest;
}

/**
 * Makes sure the page in `rendererDir` is built, and built from the current sources when they are
 * there (a checkout that was updated): builds it with electron-vite when it is missing or older,
 * and fails with what to run when it cannot. An installed package ships the page and no sources.
 */
export async function ensureRendererBuilt(packageRoot: string, rendererDir: string, err: (line: string) => void): Promise<void> {
  const index = rendererIndex(rendererDir);
  const built = existsSync(index) ? (await stat(index)).mtimeMs : 0;
  const sources = Math.max(await newestChange(join(packageRoot, 'src', 'renderer')), await newestChange(join(packageRoot, 'src', 'shared')));
  if (built > 0 && built >= sources) return;
  const bin = join(packageRoot, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js');
  const howTo = `Run \`npm run build\` in ${packageRoot} (it writes out/renderer), then start chord serve again.`;
  if (!existsSync(bin)) {
    if (built > 0) return; // older than the sources, but nothing here can rebuild it
    throw new ChordError('FILE_NOT_FOUND', "The app's page is not built (out/renderer is missing) and the build tool is not installed.", howTo);
  }
  err(built > 0 ? "chord: the app's page is older than its sources; building it (a few seconds)..." : "chord: building the app's page (first start, a few seconds)...");
  const code = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, [bin, 'build'], { cwd: packageRoot, stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('exit', (c) => resolve(c ?? 1));
    child.on('error', () => resolve(1));
  });
  if (code !== 0 || !existsSync(index)) throw new ChordError('RUNTIME', "Building the app's page failed.", howTo);
}

async function bundledProviders(): Promise<string[]> {
  try {
    const ort = await import('onnxruntime-node');
    return ort.listSupportedBackends().filter((b) => b.bundled).map((b) => b.name);
  } catch {
    return [];
  }
}

/** Opens a URL or a folder with the desktop's default application. */
function openWithSystem(target: string): void {
  const [command, args] = process.platform === 'darwin' ? ['open', [target]] : process.platform === 'win32' ? ['explorer', [target]] : ['xdg-open', [target]];
  const child = spawn(command, args, { stdio: 'ignore', detached: true });
  child.on('error', () => undefined);
  child.unref();
}

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

export async function startServe(o: ServeOptions): Promise<RunningServer> {
  if (!isLoopback(o.host) && o.token === '') throw new ChordError('BAD_ARGUMENT', 'An empty --token is not allowed.');
  // any address but loopback can be reached by others: never without a token
  const token = o.token ?? (isLoopback(o.host) ? undefined : randomBytes(18).toString('base64url'));
  await ensureRendererBuilt(PACKAGE_ROOT, RENDERER_DIR, o.err);
  const version = (JSON.parse(await readFile(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const dataDir = o.dataDir ?? chordDataDir();
  const cacheDir = o.cacheDir ?? chordCacheDir();
  // the engine's notices also go to the windows, through the studio made just below
  let studio: InstanceType<typeof app.Studio> | undefined;
  const engine = new RestartingEngine(forkEngineProcess({ cacheDir }), {
    onNotice: (n) => {
      o.err(`chord: ${n.message.replace(/\s*\n\s*/g, ' ')}`);
      studio?.notify(n);
    },
    onCrash: (reason) => o.err(`chord: the engine stopped (${reason}); it restarts with the next image.`),
  });
  const s = new app.Studio({
    version,
    dataDir,
    bundledModelsDirs: [join(PACKAGE_ROOT, 'models')],
    engine,
    urls: {
      image: (name) => `${HTTP_IMAGES_PATH}${encodeURIComponent(name)}`,
      loraPreview: (id) => `${HTTP_LORA_PREVIEWS_PATH}${encodeURIComponent(id)}`,
      comparison: (name) => `${HTTP_COMPARISONS_PATH}${encodeURIComponent(name)}`,
    },
    providers: bundledProviders,
    // a file manager opens on the machine running Chord: useful only when the browser is there too
    ...(isLoopback(o.host) ? { reveal: async (file: string) => openWithSystem(dirname(file)) } : {}),
    onWarning: (m) => o.err(`chord: ${m}`),
    ...(o.profilePairs === undefined ? {} : { profilePairs: o.profilePairs }),
  });
  studio = s;
  const server = createChordHttpServer({
    host: s,
    rendererDir: RENDERER_DIR,
    galleryFile: (name) => s.gallery.fileOf(name),
    loraPreviewFile: (id) => s.library.previewFile(id),
    comparisonFile: (name) => s.comparisons.fileOf(name),
    token,
    onInternalError: (e) => o.err(`chord: unexpected error: ${e instanceof Error ? (process.env.CHORD_DEBUG ? e.stack : e.message) : String(e)}`),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new ChordError('BAD_ARGUMENT', `Port ${o.port} on ${o.host} is in use.`, 'Choose another with --port, or --port 0 for any free one.')
          : new ChordError('RUNTIME', `Cannot listen on ${o.host}:${o.port} (${e.code ?? e.message}).`, 'Check --host and --port.'),
      ),
    );
    server.listen(o.port, o.host, () => resolve());
  });
  await s.start();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : o.port;
  const hostPart = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
  const url = `http://${hostPart}:${port}/${token ? `?token=${token}` : ''}`;
  o.out(url);
  if (token && o.token === undefined) o.err('chord: a token was made for this server; the URL above carries it. Anyone with the URL can use Chord here.');
  if (o.open) openWithSystem(url);
  let closing: Promise<void> | undefined;
  return {
    url,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await s.close();
      })()),
  };
}
