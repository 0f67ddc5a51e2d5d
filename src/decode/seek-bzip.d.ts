/**
 * The parts of seek-bzip 2.0.0 (CommonJS, no bundled types) that decodeBzip2 uses. The
 * underscore methods are what the package's own `decode` loop calls block by block.
 */
declare module 'seek-bzip' {
  namespace Bunzip {
    interface InputStream {
      /** The next byte, or -1 at EOF. */
      readByte(): number;
      /** Fills buffer[offset..offset+length), returns the count (-1 at EOF). */
      read(buffer: Uint8Array, offset: number, length: number): number;
      seek(pos: number): void;
      eof?(): boolean;
    }
    interface OutputStream {
      writeByte(byte: number): void;
    }
    interface BitReader {
      read(bits: number): number;
      pi(): string;
      bitOffset: number;
      hasByte: boolean;
    }
    /** What seek-bzip throws: a TypeError carrying one of Bunzip.Err. */
    interface BunzipError extends TypeError {
      errorCode?: number;
    }
  }
  class Bunzip {
    /** Reads "BZh1".."BZh9" from `input`. */
    constructor(input: Bunzip.InputStream, output: Bunzip.OutputStream);
    reader: Bunzip.BitReader;
    /** Block size in bytes (100000 x level). */
    dbufSize: number;
    /** Combined CRC of the blocks read so far. */
    streamCRC: number;
    /** Reads the next block header and its symbols; false at the end-of-stream marker. */
    _init_block(): boolean;
    /** Writes the current block to the output stream and checks its CRC. */
    _read_bunzip(): number;
    static decode(input: Uint8Array | Bunzip.InputStream, output?: unknown, multistream?: boolean): Buffer | undefined;
    static Err: Record<string, number>;
    static version: string;
  }
  export = Bunzip;
}
