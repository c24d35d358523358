/** The app's services: LoRA library, batch queue and gallery over an out-of-process engine. */
export { Studio, type EngineRunner, type StudioOptions } from './studio';
export { Gallery, GALLERY_NAME, imageSettings, settingsFromPng } from './gallery';
export { LoraLibrary, baseModelLabel, safeUploadName } from './library';
export type * from './types';
