/**
 * The UNet cut (onnx/unet-cut.ts, docs/composition.md "UNet cut") as two graph passes: the full
 * graph also outputs the deep feature entering the last up block, under the fixed name
 * DEEP_FEATURE; the shallow graph takes it as an input and keeps only the outer blocks. Every
 * input of the full graph stays an input of the shallow one, so one set of feeds serves both.
 */
import { DEEP_FEATURE, exposeDeepFeature, findUnetCut, shallowUnet, UNET_CUT_VERSION } from '../onnx';
import type { GraphPass } from './graph-passes';

export { DEEP_FEATURE };

/** The full UNet, also outputting its deep feature as DEEP_FEATURE. */
export const UNET_DEEP_OUTPUT_PASS: GraphPass = {
  key: 'deep',
  version: UNET_CUT_VERSION,
  rewrite(model) {
    const point = findUnetCut(model);
    return { model: exposeDeepFeature(model, point), info: { deepFeature: point.tensor, lastUpBlock: point.lastUpBlock } };
  },
};

/** The shallow UNet: the outer blocks only, from DEEP_FEATURE. */
export const UNET_SHALLOW_PASS: GraphPass = {
  key: 'shallow',
  version: UNET_CUT_VERSION,
  rewrite(model) {
    const point = findUnetCut(model);
    const shallow = shallowUnet(model, point);
    return { model: shallow, info: { deepFeature: point.tensor, nodes: shallow.graph?.node?.length ?? 0, fullNodes: model.graph?.node?.length ?? 0 } };
  },
};
