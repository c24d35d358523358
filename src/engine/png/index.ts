/** Image output and metadata: PNG encoding, A1111 infotext, the Chord record. */
export { encodeImage, saveImage, readImageInfo, PARAMETERS_KEYWORD, CHORD_KEYWORD, type ImageInfo } from './image';
export {
  formatA1111Parameters,
  parseA1111Parameters,
  a1111SamplerName,
  samplerFromA1111,
  type A1111Parameters,
  type A1111FormatOptions,
} from './a1111';
export {
  CHORD_RECORD_VERSION,
  ChordImageRecordSchema,
  parseChordRecord,
  type ChordImageRecord,
  type ChordLoraRecord,
  type ChordRegionRecord,
  type ChordOrderingRecord,
  type CompositionMethod,
  type LoraCategory,
} from './record';
