/**
 * What a shallow UNet pass (CMLoRA's cached pass, docs/composition.md "Cost of a shallow pass")
 * costs in full passes, for the app's step timeline. The share depends on the UNet and the image
 * size and is not stored in an image's record, so it comes from the measured multiply-accumulate
 * counts (`bench/unet-macs.ts`; counts, not timings, so no machine load disturbs them): the
 * embedded glyph-sd UNet for the demo model, the SD 1.5-sized UNet at the nearest measured size for
 * every other model (the paper's figure, 0.38, is SD 1.5 at 512 x 512 px).
 */

export interface ShallowPassCost {
  /** one shallow pass in full-pass equivalents */
  shallowCost: number;
  /** where the number comes from, for people */
  shallowCostBasis: string;
}

/** glyph-sd UNet, latents 16 x 16 (the only size it was measured at; it draws at 64 x 64 px) */
const GLYPH_SD = 0.48;
/** SD 1.5-sized UNet: latent side -> shallow / full in multiply-accumulates */
const SD15: readonly { latentSide: number; share: number }[] = [
  { latentSide: 32, share: 0.31 },
  { latentSide: 64, share: 0.38 },
  { latentSide: 96, share: 0.46 },
];

export function shallowPassCost(modelName: string, width: number, height: number): ShallowPassCost {
  if (/^glyph-sd\b/i.test(modelName)) {
    return { shallowCost: GLYPH_SD, shallowCostBasis: 'glyph-sd UNet, measured in multiply-accumulates' };
  }
  // the nearest measured latent size (the share grows with the image: full-resolution attention)
  const side = Math.sqrt((width / 8) * (height / 8));
  const nearest = SD15.reduce((best, m) => (Math.abs(m.latentSide - side) < Math.abs(best.latentSide - side) ? m : best));
  const px = nearest.latentSide * 8;
  return {
    shallowCost: nearest.share,
    shallowCostBasis: `SD 1.5-sized UNet at ${px} x ${px} px, measured in multiply-accumulates; other UNets differ`,
  };
}
