import type { ByteLink } from '../../hardware/transport/byte-link.js';

/** Resolves with everything the link delivered once at least `length` bytes have arrived. */
export function received(link: ByteLink, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  return new Promise((resolve) => {
    link.onData((chunk) => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= length) resolve(Buffer.concat(chunks));
    });
  });
}
