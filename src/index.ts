export { FormatError, MoveConflictError, RefusedEntriesError, ScratchFileError, UsageError } from './errors.js';
export { ByteSource } from './decode/source.js';
export type { Decoder, Sink } from './decode/types.js';
export { COMPRESSION_FORMATS, detectCompression, type CompressionFormat, type CompressionName, type Compressor, type SegmentFormat } from './decode/formats.js';
export { type CpioEntry, type EntryType, entryType, hardLinkKey } from './cpio/entry.js';
export { CpioParser, type CpioEvents } from './cpio/parser.js';
export { encodeHeader, encodeTrailer, type HeaderFields } from './cpio/writer.js';
export { CREATE_COMPRESSIONS, createImage, writeArchives, type ArchivePlan, type CreateCompression, type CreateOptions, type WriteOptions, type CreateResult, type CreatedArchive } from './create/image.js';
export { SourceError, type FileSource, type SourceEntry } from './create/entries.js';
export { readManifest, type ManifestArchive, type ManifestSource } from './create/manifest.js';
export { repackImage, type RepackOptions, type RepackResult, type RepackedMember } from './create/repack.js';
export { escapeName, unescapeName } from './cpio/names.js';
export { walkImage, type Archive, type WalkOptions, type WalkResult } from './image/walk.js';
export { describeDirectoryTree, describeImageTree, type ImageTree } from './diff/views.js';
export { SortedTree, type PathRecord } from './diff/tree-view.js';
export {
  diffArchives, diffTrees, differencesOf, formatArchiveDifference, formatDifference, summarizeArchive, summarizeDifferences,
  type ArchiveDifference, type ArchiveSummary, type Attribute, type AttributeDifference, type DiffOptions, type Difference, type DifferenceSummary,
} from './diff/compare.js';
export { freeSpace, type FreeSpace } from './extract/free-space.js';
export { blocksNeeded, measureImage, type DirectoryEntry, type DirectorySpace, type ImageSpace } from './extract/space.js';
export { SafeExtractor, type ExtractOptions, type Notice } from './extract/writer.js';
export { skipcpio, skipcpioStart, type SkipcpioResult } from './restore/skipcpio.js';
export { ATTEMPTS, PRESETS, PRESET_NAMES, STAGES, flavorOrder, parseOrder, type Attempt, type MagicName } from './restore/orders.js';
export { runTrial, type Engine, type StageOutcome, type TrialHooks, type TrialReport } from './restore/trial.js';
export { extractStaged, type StagedOptions } from './extract/staging.js';
export { restore, type RestoreOptions, type RestoreReport, type SpaceReport, type Verification } from './restore/restore.js';
export { FLAVORS, findImage, findUki, machineId, type Flavor } from './restore/discovery.js';
export { INITRD_SECTIONS, readUki, type Piece, type Uki, type UkiSection } from './decode/uki.js';
export { strictUtf8, type Utf8Failure } from './bench/utf8.js';
export { measureTrial, type AttemptReport, type MeasuredTrial } from './bench/measure.js';
export { validateImage, type FlavorResult, type ImageVerdict, type Verdict } from './bench/validate.js';
