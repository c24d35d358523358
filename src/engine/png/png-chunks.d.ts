// Types for three small CommonJS packages by Hugh Kennedy that ship none.

declare module 'png-chunks-extract' {
  interface PngChunk {
    /** four-letter chunk type, e.g. 'IHDR', 'tEXt' */
    name: string;
    data: Uint8Array;
  }
  /** Splits a PNG into its chunks, checking the signature and every CRC; throws Error otherwise. */
  function extractChunks(png: Uint8Array): PngChunk[];
  namespace extractChunks {
    export { PngChunk };
  }
  export = extractChunks;
}

declare module 'png-chunks-encode' {
  import type { PngChunk } from 'png-chunks-extract';
  /** Writes the PNG signature and the chunks, each with its length and CRC. */
  function encodeChunks(chunks: PngChunk[]): Uint8Array;
  export = encodeChunks;
}

declare module 'png-chunk-text' {
  import type { PngChunk } from 'png-chunks-extract';
  const text: {
    /** A tEXt chunk; throws Error unless keyword and text are Latin-1 and free of NUL. */
    encode(keyword: string, text: string): PngChunk;
    /** Keyword and text of a tEXt chunk's data, each byte read as Latin-1. */
    decode(data: Uint8Array | PngChunk): { keyword: string; text: string };
  };
  export = text;
}
