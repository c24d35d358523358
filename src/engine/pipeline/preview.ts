/**
 * A cheap preview of a latent during denoising: each pixel's RGB is a fixed linear map of its
 * latent channels, no VAE. The map is the least-squares fit of SD 1.x latents to their decoded
 * colours published by keturn (2022) and used by several UIs; for other latent spaces it only
 * shows structure. The preview has the latent's size (1/8 of the image for SD).
 */

/** RGB weights of each latent channel (rows: channel 0..3; columns: R, G, B), SD 1.x. */
export const SD1_LATENT_RGB: readonly (readonly [number, number, number])[] = [
  [0.298, 0.207, 0.208],
  [0.187, 0.286, 0.173],
  [-0.158, 0.189, 0.264],
  [-0.184, -0.271, -0.473],
];

export interface PreviewImage {
  width: number;
  height: number;
  /** interleaved 8-bit RGB rows */
  rgb: Uint8Array;
}

/** latent [C, h, w] (C = rows of `factors`) -> RGB preview of h x w pixels. */
export function latentPreview(latent: Float32Array, width: number, height: number, factors = SD1_LATENT_RGB): PreviewImage {
  const plane = width * height;
  if (latent.length < factors.length * plane) throw new RangeError(`latent has ${latent.length} values, expected ${factors.length * plane}`);
  const rgb = new Uint8Array(plane * 3);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      let v = 0;
      for (let k = 0; k < factors.length; k++) v += latent[k * plane + p] * factors[k][c];
      const byte = (v + 1) * 127.5;
      rgb[p * 3 + c] = byte <= 0 ? 0 : byte >= 255 ? 255 : Math.round(byte);
    }
  }
  return { width, height, rgb };
}
