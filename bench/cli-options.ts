/** `--name value` options of the small sampling scripts (demo-world.ts, speckle.ts). */
export function cliOption(name: string, fallback: string, args: string[] = process.argv.slice(2)): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
}
