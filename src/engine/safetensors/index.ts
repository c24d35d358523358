export { DTYPE_SIZE, decodeToFloat32, encodeFromFloat32, f16ToF32, f32ToF16, f32ToBf16, isSafetensorsDtype } from './dtypes';
export type { SafetensorsDtype } from './dtypes';
export { MAX_HEADER_BYTES, parseSafetensorsHeader, readHeaderLength } from './header';
export type { SafetensorsHeader, TensorInfo } from './header';
export { SafetensorsFile, readSafetensorsHeader, withSafetensors } from './reader';
export { serializeSafetensors, writeSafetensors } from './writer';
export type { TensorToWrite } from './writer';
