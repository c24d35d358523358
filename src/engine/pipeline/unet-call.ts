/**
 * The UnetCall a method gets each step (composition.ts): every LoRA configuration on the CFG pair,
 * in as few batched UNet calls as memory allows, full, filling deep features, or shallow.
 */
import type { UnetOutput, UnetRun } from '../model/model';
import { batchItem, repeat, type FloatTensor } from '../tensor';
import type { DeepFeature, UnetCall, UnetRequest, UnetResult } from './composition';

/**
 * How many batch rows one UNet call may hold. Self-attention maps dominate activation memory:
 * per row, about heads x (h w)^2 floats at the finest attention level (SD 1.x: 8 heads at the
 * latent size), a few times over. Budget: CHORD_UNET_MEMORY_MB, default 4096. At 512 x 512 (a
 * 64 x 64 latent) that is 2 rows (one CFG pair per call); at 256 x 256, 38 rows.
 */
export function unetRowsPerCall(latentHeight: number, latentWidth: number, budgetMb = Number(process.env.CHORD_UNET_MEMORY_MB) || 4096): number {
  const tokens = latentHeight * latentWidth;
  const perRow = 8 * tokens * tokens * 4 * 3;
  return Math.max(2, 2 * Math.floor(budgetMb * 2 ** 20 / perRow / 2));
}

/** What one step's calls share. */
export interface StepInputs {
  /** the scheduler-scaled latent [C, h, w] of one image */
  modelInput: Float32Array;
  /** [1, C, h, w] */
  latentDims: readonly number[];
  timestep: number;
  /** [2, seq, C']: uncond row, then cond */
  context: FloatTensor;
  /** most batch rows in one call (even, at least 2) */
  maxRows: number;
}

/**
 * A UnetCall over `unet` (Model.runUnet or a stand-in) for one step; `cost` counts UNet
 * evaluations of one CFG row pair, full and shallow.
 */
export function unetCall(unet: { runUnet(run: UnetRun): Promise<UnetOutput> }, step: StepInputs, cost: { full: number; shallow: number }): UnetCall {
  const { modelInput, latentDims, timestep, context } = step;
  const latentSize = modelInput.length;
  const perCall = Math.max(1, Math.floor(step.maxRows / 2));
  return async (request) => {
    const depth = request.depth ?? 'full';
    cost[depth === 'shallow' ? 'shallow' : 'full'] += request.configs.length;
    const result: UnetResult = { predictions: [], deep: depth === 'fill' ? [] : undefined };
    for (let start = 0; start < request.configs.length; start += perCall) {
      const part = sliceRequest(request, start, start + perCall);
      const n = part.configs.length;
      const out = await unet.runUnet({
        sample: { data: repeat(modelInput, 2 * n), dims: [2 * n, ...latentDims.slice(1)] },
        timestep,
        context: { data: repeat(context.data, n), dims: [2 * n, ...context.dims.slice(1)] },
        // each configuration on the CFG pair: its weights on both rows
        loras: part.configs.flatMap((c) => [c, c]),
        depth,
        deepFeature: part.deep ? joinRows(part.deep) : undefined,
      });
      for (let j = 0; j < n; j++) {
        result.predictions.push({ uncond: batchItem(out.eps, latentSize, 2 * j), cond: batchItem(out.eps, latentSize, 2 * j + 1) });
      }
      if (out.deepFeature) result.deep?.push(...splitRows(out.deepFeature, n));
    }
    return result;
  };
}

function sliceRequest(request: UnetRequest, from: number, to: number): UnetRequest {
  return { configs: request.configs.slice(from, to), depth: request.depth, deep: request.deep?.slice(from, to) };
}

/** Deep features of several configurations (each [2, ...]) as one batch. */
function joinRows(features: readonly DeepFeature[]): DeepFeature {
  const data = new Float32Array(features.reduce((n, f) => n + f.data.length, 0));
  let offset = 0;
  for (const f of features) {
    data.set(f.data, offset);
    offset += f.data.length;
  }
  return { data, dims: [2 * features.length, ...features[0].dims.slice(1)] };
}

/** A batch of 2n rows -> n deep features of 2 rows (one CFG pair) each. */
function splitRows(feature: DeepFeature, n: number): DeepFeature[] {
  const size = feature.data.length / n;
  return Array.from({ length: n }, (_, j) => ({ data: feature.data.slice(j * size, (j + 1) * size), dims: [2, ...feature.dims.slice(1)] }));
}
