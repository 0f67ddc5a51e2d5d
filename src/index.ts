export { FormatError } from './errors.js';
export { ByteSource } from './decode/source.js';
export type { Decoder, Sink } from './decode/types.js';
export { COMPRESSION_FORMATS, detectCompression, type CompressionFormat, type CompressionName, type SegmentFormat } from './decode/formats.js';
export { type CpioEntry, type EntryType, entryType, hardLinkKey } from './cpio/entry.js';
export { CpioParser, type CpioEvents } from './cpio/parser.js';
export { escapeName, unescapeName } from './cpio/names.js';
export { walkImage, type Archive, type WalkOptions, type WalkResult } from './image/walk.js';
export { SafeExtractor, type ExtractOptions, type Notice } from './extract/writer.js';
