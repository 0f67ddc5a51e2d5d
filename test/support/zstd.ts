/** Where each block of the zstd frame at the start of `frame` lies, walked as RFC 8878 3.1.1 lays it out. */
export function zstdBlocks(frame: Buffer): { at: number; contentAt: number; contentSize: number }[] {
  const descriptor = frame[4];
  const singleSegment = (descriptor >> 5) & 1;
  const fcsSize = [singleSegment, 2, 4, 8][descriptor >> 6];
  let at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3] + fcsSize;
  const blocks = [];
  for (;;) {
    const header = frame.readUIntLE(at, 3);
    // An RLE block's content is one byte.
    const contentSize = ((header >> 1) & 3) === 1 ? 1 : header >>> 3;
    blocks.push({ at, contentAt: at + 3, contentSize });
    at += 3 + contentSize;
    if (header & 1) return blocks;
  }
}
