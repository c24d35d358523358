/**
 * The contract between LoRA files (what a file holds, `src/engine/lora/`) and model graphs (what a
 * graph can take, `src/engine/onnx/`). Module paths are diffusers module paths with dots, exactly as
 * the standard ONNX exporter writes them into node names, e.g.
 *   unet:          'down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q'
 *   text_encoder:  'text_model.encoder.layers.0.self_attn.q_proj'
 */
export type ModelPart = 'unet' | 'text_encoder';

/** A layer of a model graph that can carry a low-rank branch. Found by the graph analysis. */
export interface LoraTarget {
  part: ModelPart;
  /** diffusers module path with dots, no trailing `.weight` */
  modulePath: string;
  /** how the layer appears in the graph */
  op: 'MatMul' | 'Gemm' | 'Conv';
  inFeatures: number;
  outFeatures: number;
  /** Conv only: [kh, kw], strides, pads [top, left, bottom, right], dilations, group */
  conv?: { kernel: [number, number]; strides: [number, number]; pads: [number, number, number, number]; dilations: [number, number]; group: number };
}

/**
 * One low-rank update read from a file, already mapped to a module path.
 * Delta = scale * up @ down, with scale = alpha / rank (the user weight is applied later).
 *   linear: down [rank, in], up [out, rank]
 *   conv:   down [rank, in, kh, kw], up [out, rank, 1, 1]  (kohya LoCon layout)
 */
export interface LoraModule {
  part: ModelPart;
  modulePath: string;
  kind: 'linear' | 'conv';
  rank: number;
  alpha: number;
  /** alpha / rank */
  scale: number;
  down: Float32Array;
  downShape: number[];
  up: Float32Array;
  upShape: number[];
}

/**
 * A weight type with no additive low-rank activation form (LoHa, LoKr, DoRA, full diff): the file
 * gives a full weight delta (already multiplied by its own scale) that must be merged into the
 * weights. Shape is the PyTorch weight shape ([out, in] or [out, in, kh, kw]).
 */
export interface LoraDelta {
  part: ModelPart;
  modulePath: string;
  kind: 'linear' | 'conv';
  /** 'loha' | 'lokr' | 'dora' | 'diff' */
  type: string;
  delta: Float32Array;
  shape: number[];
  /**
   * DoRA only. Then `delta` is the inner update dW (alpha / rank applied), NOT the final delta:
   * DoRA rescales W + dW by `magnitude / ||W + dW||` (norm per output row for axis 'out', per input
   * channel for axis 'in'), which needs the base weight W. `doraExactDelta(base, delta)` in
   * `dora.ts` gives the exact W' - W; merging dW alone is only an approximation.
   */
  dora?: { magnitude: Float32Array; axis: 'out' | 'in' };
}
