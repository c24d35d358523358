/**
 * Which ONNX Runtime execution provider runs the graphs. `auto` picks the platform's GPU provider
 * when this onnxruntime-node build can load it, else the CPU; a user can name one explicitly. A GPU
 * provider that fails to start falls back to the CPU with a notice (see session.ts).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { listSupportedBackends } from 'onnxruntime-node';
import { ChordError } from '../errors';

export const PROVIDER_NAMES = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];
export type ProviderChoice = ProviderName | 'auto';

export const PROVIDER_LABELS: Readonly<Record<ProviderName, string>> = {
  cpu: 'CPU',
  cuda: 'CUDA',
  dml: 'DirectML',
  coreml: 'CoreML',
  webgpu: 'WebGPU',
};

/** What the provider choice depends on; gathered by `detectProviderEnvironment`. */
export interface ProviderEnvironment {
  platform: NodeJS.Platform;
  /** onnxruntime-node's `listSupportedBackends()` names */
  backends: readonly string[];
  /** the CUDA provider library sits next to the binding (installed by `npm run install-cuda`) */
  cudaLibraryPresent: boolean;
}

export function parseProviderChoice(text: string): ProviderChoice {
  const t = text.trim().toLowerCase();
  const alias: Record<string, ProviderChoice> = { directml: 'dml', gpu: 'auto' };
  const name = alias[t] ?? t;
  if (name === 'auto' || (PROVIDER_NAMES as readonly string[]).includes(name)) return name as ProviderChoice;
  throw new ChordError('BAD_ARGUMENT', `Unknown provider "${text}".`, `Choose one of: auto, ${PROVIDER_NAMES.join(', ')}.`);
}

/** The GPU provider `auto` tries on a platform, or undefined when there is none to try. */
export function platformGpuProvider(env: ProviderEnvironment): ProviderName | undefined {
  const has = (name: string) => env.backends.includes(name);
  switch (env.platform) {
    case 'linux':
      return has('cuda') && env.cudaLibraryPresent ? 'cuda' : undefined;
    case 'win32':
      return has('dml') ? 'dml' : undefined;
    case 'darwin':
      return has('coreml') ? 'coreml' : undefined;
    default:
      return undefined;
  }
}

/**
 * Providers to try, in order; the last is always the CPU. `auto` deliberately never picks WebGPU:
 * on Linux it needs a Vulkan driver and, without one, prints native warnings before failing, and
 * on the other platforms DirectML / CoreML are the tested paths. WebGPU is one flag away.
 */
export function providerPlan(choice: ProviderChoice, env: ProviderEnvironment): ProviderName[] {
  if (choice === 'cpu') return ['cpu'];
  if (choice === 'auto') {
    const gpu = platformGpuProvider(env);
    return gpu ? [gpu, 'cpu'] : ['cpu'];
  }
  if (!env.backends.includes(choice)) {
    const available = env.backends.filter((b) => (PROVIDER_NAMES as readonly string[]).includes(b));
    throw new ChordError(
      'BAD_ARGUMENT',
      `${PROVIDER_LABELS[choice]} is not available in this build of ONNX Runtime (available: ${available.join(', ')}).`,
      choice === 'cuda' ? CUDA_HINT : 'Choose another provider, or leave it on auto.',
    );
  }
  return [choice, 'cpu'];
}

export const CUDA_HINT =
  'To use an NVIDIA GPU on Linux, run `npm run install-cuda` in Chord\'s folder (needs CUDA 12 and cuDNN 9).';

/** The folder holding onnxruntime-node's native binding for this platform and CPU. */
function bindingDir(): string | undefined {
  try {
    const main = createRequire(import.meta.url).resolve('onnxruntime-node');
    return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

let detected: ProviderEnvironment | undefined;

export function detectProviderEnvironment(): ProviderEnvironment {
  if (detected) return detected;
  const dir = bindingDir();
  detected = {
    platform: process.platform,
    backends: listSupportedBackends().map((b) => b.name),
    cudaLibraryPresent: dir !== undefined && existsSync(join(dir, 'libonnxruntime_providers_cuda.so')),
  };
  return detected;
}
