/** PEM armour (RFC 7468): base64 in 64-character lines between BEGIN/END labels, LF line endings. */
export function toPem(label: string, der: Uint8Array): string {
  const base64 = Buffer.from(der.buffer, der.byteOffset, der.byteLength).toString('base64');
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

const blockPattern = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** Every PEM block in the text, in order; text outside blocks (openssl's "subject=" lines) is ignored. */
export function pemBlocks(text: string): PemBlock[] {
  const blocks: PemBlock[] = [];
  for (const match of text.matchAll(blockPattern)) {
    const body = match[2]!.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) continue;
    blocks.push({ label: match[1]!, der: new Uint8Array(Buffer.from(body, 'base64')) });
  }
  return blocks;
}

/**
 * Accepts PEM (the labels given) or raw DER (anything starting with a SEQUENCE tag): the forms CSRs and
 * certificates arrive in from devices and files. Returns the DER blocks found, possibly none.
 */
export function derBlocksFrom(content: Uint8Array, labels: readonly string[]): Uint8Array[] {
  if (content.length > 0 && content[0] === 0x30) return [content];
  const text = Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('latin1');
  return pemBlocks(text)
    .filter((block) => labels.includes(block.label))
    .map((block) => block.der);
}
