import type { TranscriptEntry } from './at-channel-contract.js';

/** Long lines are cut in the transcript: it is for the record and for debugging, not a data store. */
const maxEntryChars = 512;

/**
 * What went over one port's wire, bounded (oldest entries fall off). Callers mask secrets before recording;
 * maskCommand does it for AT commands that carry a key.
 */
export class Transcript {
  private readonly entries: TranscriptEntry[] = [];

  constructor(private readonly limit = 1000) {}

  record(direction: TranscriptEntry['direction'], text: string): void {
    const shown =
      text.length > maxEntryChars
        ? `${text.slice(0, maxEntryChars)}...(+${text.length - maxEntryChars} chars)`
        : text;
    this.entries.push({ at: Date.now(), direction, text: shown });
    if (this.entries.length > this.limit) this.entries.shift();
  }

  list(): readonly TranscriptEntry[] {
    return [...this.entries];
  }
}

/**
 * Keeps the command name and the leading plain arguments, masks from the first quoted argument on (or
 * everything after `=`): `AT%CMNG=0,16842753,2,<masked 245 bytes>`.
 */
export function maskCommand(command: string, secret: boolean | undefined): string {
  if (!secret) return command;
  const quote = command.indexOf('"');
  const cut = quote >= 0 ? quote : command.indexOf('=') + 1;
  if (cut <= 0) return `<masked ${Buffer.byteLength(command)} bytes>`;
  return `${command.slice(0, cut)}<masked ${Buffer.byteLength(command.slice(cut))} bytes>`;
}

/** Longest command an error message repeats whole. */
const maxNamedChars = 80;

/**
 * A command as a technician's message names it: a long quoted value (a certificate) is left out, with its
 * size, so the message stays one readable line: `AT%CMNG=0,16842753,1,"…" (640 bytes)`.
 */
export function namedCommand(label: string): string {
  if (label.length <= maxNamedChars && !label.includes('\n')) return label;
  const quote = label.indexOf('"');
  const bytes = Buffer.byteLength(label);
  if (quote >= 0 && quote < maxNamedChars) return `${label.slice(0, quote + 1)}…" (${bytes} bytes)`;
  return `${label.slice(0, maxNamedChars).split('\n')[0]}… (${bytes} bytes)`;
}
