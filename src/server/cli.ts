/**
 * `chord serve [--host H] [--port N] [--token T] [--data DIR] [--open]`, added to the `chord`
 * command line by bin/chord.js (the engine's CLI may not import the server). Runs until
 * SIGINT/SIGTERM; the first line on stdout is the URL.
 */
import { ChordError, type CliExtension } from '../engine';
import { startServe } from './serve';

interface ServeCliOptions {
  host: string;
  port: number;
  token?: string;
  data?: string;
  open?: boolean;
  profilePairs?: number;
}

export const serveCommand: CliExtension = (program, { io, run, wholeNumber }) => {
  program
    .command('serve')
    .description('the app in a browser: serve the UI and the engine over HTTP (127.0.0.1 by default)')
    .option('--host <address>', 'address to listen on; any but 127.0.0.1 needs a token', '127.0.0.1')
    // not 7860: A1111 and other Gradio apps, often running beside Chord, take that one
    .option('--port <n>', 'port (0: any free one)', wholeNumber('--port', 0), 7870)
    .option('--token <text>', 'access token required on every request (made and printed for a non-local --host)')
    .option('--data <dir>', "the app's data folder: LoRA library, queue, gallery (default: CHORD_DATA_DIR or the OS data folder)")
    .option('--open', 'open the page in the default browser')
    .option('--profile-pairs <n>', 'image pairs per LoRA when the window measures frequency profiles (1-64; default 16: fewer are quicker and noisier)', wholeNumber('--profile-pairs', 1))
    .action((o: ServeCliOptions) =>
      run(async () => {
        if (o.port > 65535) throw new ChordError('BAD_ARGUMENT', `--port must be at most 65535 (got ${o.port}).`);
        if (o.profilePairs !== undefined && o.profilePairs > 64) throw new ChordError('BAD_ARGUMENT', `--profile-pairs must be at most 64 (got ${o.profilePairs}).`);
        const server = await startServe({ host: o.host, port: o.port, token: o.token, open: o.open, dataDir: o.data, profilePairs: o.profilePairs, out: io.out, err: io.err });
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGINT', stop);
            process.off('SIGTERM', stop);
            void server.close().finally(resolve);
          };
          process.on('SIGINT', stop);
          process.on('SIGTERM', stop);
        });
        return 0;
      }),
    );
};
