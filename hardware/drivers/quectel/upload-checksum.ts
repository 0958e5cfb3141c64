/**
 * The checksum Quectel modules report after AT+QFUPL and AT+QFDWL (protocols.md 3): XOR of the data taken
 * as big-endian 16-bit words, an odd last byte padded low with 0x00. It is not a CRC, and some drivers
 * misread it as decimal (protocols.md 6.5): it is printed in hex, lowercase, without 0x.
 */
export function quectelChecksum(data: Uint8Array): number {
  let checksum = 0;
  for (let index = 0; index < data.length; index += 2) {
    const high = data[index] ?? 0;
    const low = data[index + 1] ?? 0;
    checksum ^= (high << 8) | low;
  }
  return checksum;
}

/** As the module prints it. Whether it pads leading zeros is unconfirmed (protocols.md 3), so we do not. */
export function formatQuectelChecksum(checksum: number): string {
  return checksum.toString(16);
}

/** Parses the printed checksum in base 16; undefined when it is not 1 to 4 hex digits. */
export function parseQuectelChecksum(text: string): number | undefined {
  return /^[0-9a-fA-F]{1,4}$/.test(text) ? Number.parseInt(text, 16) : undefined;
}
