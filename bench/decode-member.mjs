// Decodes one compressed member of an image with our own in-process decoder, output dropped:
// what bench/decoders.sh times against the format's CLI. With OVERLAP=1, a decoder that can
// decode on another thread (gzip's and zstd's engine, on libuv's threadpool) does, as unpack's
// walk asks (bench/cores.sh).
//   [OVERLAP=1] node bench/decode-member.mjs IMAGE OFFSET
import { detectCompression } from '../dist/decode/formats.js';
import { ByteSource } from '../dist/decode/source.js';

const [image, offset] = process.argv.slice(2);
const src = ByteSource.open(image);
src.seek(Number(offset));
const format = detectCompression(src.peek(8));
if (!format) throw new Error(`no compressed member at byte ${offset}`);
let bytes = 0;
await format.decode(src, (chunk) => { bytes += chunk.length; }, { overlap: process.env.OVERLAP === '1' });
if (process.env.VERBOSE) console.error(`${format.name}: ${bytes} bytes`);
