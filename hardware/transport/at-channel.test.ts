import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryPair } from '../sim/memory-pair.js';
import type { AtChannelOptions } from './at-channel-contract.js';
import { AtChannel } from './at-channel.js';
import { linkFromDuplex } from './duplex-link.js';
import { placeholderKeyHeader } from '../../test/fixtures/placeholder-key.js';

const defaults: AtChannelOptions = {
  lineEnding: '\r\n',
  echo: false,
  maxLineBytes: 128,
  quoteAwareLines: true,
  defaultTimeoutMs: 1_000,
};

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((cleanup) => cleanup()));

/** A channel to a scripted device: `answer` maps each received command line to what the device sends. */
function channelTo(
  answer: (command: string, device: Duplex) => void,
  options: Partial<AtChannelOptions> = {},
) {
  const pair = createMemoryPair();
  const received: Buffer[] = [];
  let pending = '';
  pair.device.on('data', (chunk: Buffer) => {
    received.push(chunk);
    pending += chunk.toString('latin1');
    let end: number;
    while ((end = pending.indexOf('\r\n')) >= 0) {
      const command = pending.slice(0, end);
      pending = pending.slice(end + 2);
      answer(command, pair.device);
    }
  });
  const link = linkFromDuplex('ttyTEST', pair.host);
  const channel = new AtChannel(link, { ...defaults, ...options });
  cleanups.push(() => {
    channel.dispose();
    pair.host.destroy();
  });
  return { channel, device: pair.device, received };
}

describe('AtChannel', () => {
  it('collects information lines up to OK', async () => {
    const { channel } = channelTo((_, device) => device.write('\r\n352656100367872\r\nOK\r\n'));
    await expect(channel.send('AT+CGSN')).resolves.toEqual({ info: ['352656100367872'] });
  });

  it('names a command with a long quoted value (a certificate) by its head and size, on one line', async () => {
    const { channel } = channelTo((_, device) => device.write('+CME ERROR: 515\r\n'));
    const pem = `-----BEGIN CERTIFICATE-----\n${'A'.repeat(64)}\n${'B'.repeat(64)}\n-----END CERTIFICATE-----`;
    const command = `AT%CMNG=0,16842753,0,"${pem}"`;
    await expect(channel.send(command)).rejects.toMatchObject({
      code: 'device.cme-error',
      message: `The device on ttyTEST answered AT%CMNG=0,16842753,0,"…" (${command.length} bytes) with +CME ERROR: 515.`,
    });
  });

  it('gives device.cme-error with the numeric code and the port', async () => {
    const { channel } = channelTo((_, device) => device.write('+CME ERROR: 518\r\n'));
    await expect(channel.send('AT%CMNG=3,1,0')).rejects.toMatchObject({
      code: 'device.cme-error',
      port: 'ttyTEST',
      details: { cme: 518 },
    });
  });

  it('gives device.error for a bare ERROR and device.cms-error for +CMS ERROR', async () => {
    const { channel } = channelTo((command, device) =>
      device.write(command === 'AT+X' ? 'ERROR\r\n' : '+CMS ERROR: 302\r\n'),
    );
    await expect(channel.send('AT+X')).rejects.toMatchObject({ code: 'device.error' });
    await expect(channel.send('AT+Y')).rejects.toMatchObject({
      code: 'device.cms-error',
      details: { cms: 302 },
    });
  });

  it('drops the echoed command when the device echoes', async () => {
    const { channel } = channelTo((command, device) => device.write(`${command}\r\n+GMR: 1\r\nOK\r\n`), {
      echo: true,
    });
    await expect(channel.send('AT+GMR')).resolves.toEqual({ info: ['+GMR: 1'] });
  });

  it('times out on silence with transport.timeout for the port', async () => {
    const { channel } = channelTo(() => undefined);
    await expect(channel.send('AT', { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'transport.timeout',
      port: 'ttyTEST',
    });
  });

  it('gives transport.line-too-long for an oversized line, then serves the next command', async () => {
    const { channel } = channelTo((command, device) =>
      device.write(command === 'AT+BIG' ? `${'x'.repeat(500)}\r\nOK\r\n` : 'OK\r\n'),
    );
    await expect(channel.send('AT+BIG')).rejects.toMatchObject({ code: 'transport.line-too-long' });
    await expect(channel.send('AT')).resolves.toEqual({ info: [] });
  });

  it('gives transport.garbled for binary noise even when no final result follows', async () => {
    const { channel } = channelTo((_, device) => device.write(Buffer.from([0x00, 0xff, 0x13, 0x0d, 0x0a])));
    await expect(channel.send('AT', { timeoutMs: 800 })).rejects.toMatchObject({ code: 'transport.garbled' });
  });

  it('does not take the late answer to a timed-out command for the next command', async () => {
    const { channel } = channelTo((command, device) => {
      if (command === 'AT+SLOW') setTimeout(() => device.write('+SLOW: 1\r\nOK\r\n'), 150);
      else setTimeout(() => device.write('+NEXT: 2\r\nOK\r\n'), 100);
    });
    await expect(channel.send('AT+SLOW', { timeoutMs: 100 })).rejects.toMatchObject({
      code: 'transport.timeout',
    });
    await expect(channel.send('AT+NEXT')).resolves.toEqual({ info: ['+NEXT: 2'] });
  });

  it('cancels a command with transport.aborted when its signal fires, and one queued behind it', async () => {
    const { channel } = channelTo(() => undefined);
    const controller = new AbortController();
    const first = channel.send('AT+SLOW', { signal: controller.signal, timeoutMs: 5_000 });
    const second = channel.send('AT+NEXT', { signal: controller.signal, timeoutMs: 5_000 });
    controller.abort();
    await expect(first).rejects.toMatchObject({ code: 'transport.aborted' });
    await expect(second).rejects.toMatchObject({ code: 'transport.aborted' });
  });

  it('sends one command at a time, the next only after the final result', async () => {
    const order: string[] = [];
    const { channel } = channelTo((command, device) => {
      order.push(command);
      setTimeout(() => device.write('OK\r\n'), 20);
    });
    await Promise.all([channel.send('AT+A'), channel.send('AT+B'), channel.send('AT+C')]);
    expect(order).toEqual(['AT+A', 'AT+B', 'AT+C']);
  });

  it('fails the running command with transport.disconnected when the port vanishes', async () => {
    const { channel, device } = channelTo((_, end) => setTimeout(() => end.destroy(), 10));
    await expect(channel.send('AT%CMNG=0,1,0,"x"')).rejects.toMatchObject({ code: 'transport.disconnected' });
    expect(device.destroyed).toBe(true);
    await expect(channel.send('AT')).rejects.toMatchObject({ code: 'transport.disconnected' });
  });

  it('writes the exact payload after the > prompt, reporting progress, and tolerates the OK before it', async () => {
    const payload = Buffer.from(Array.from({ length: 700 }, (_, index) => index % 256));
    const pair = createMemoryPair();
    const got: Buffer[] = [];
    pair.device.on('data', (chunk: Buffer) => {
      if (got.length === 0 && chunk.toString('latin1').endsWith('\r\n')) {
        got.push(Buffer.alloc(0));
        pair.device.write('\r\nOK\r\n\r\n>');
        return;
      }
      got.push(chunk);
      if (Buffer.concat(got).length === payload.length) pair.device.write('\r\nOK\r\n');
    });
    const channel = new AtChannel(linkFromDuplex('ttyESP', pair.host), defaults);
    cleanups.push(() => pair.host.destroy());
    const progress: number[] = [];
    await channel.sendWithPayload('AT+SYSMFG=2,"ns","k",8,700', payload, {
      prompt: '>',
      onProgress: (sent) => progress.push(sent),
    });
    expect(Buffer.concat(got)).toEqual(payload);
    expect(progress.at(-1)).toBe(700);
    expect(progress.length).toBeGreaterThan(1);
  });

  it('writes the payload after CONNECT and returns the lines that follow it', async () => {
    const pair = createMemoryPair();
    let phase: 'command' | 'data' = 'command';
    pair.device.on('data', (chunk: Buffer) => {
      if (phase === 'command') {
        phase = 'data';
        pair.device.write('CONNECT\r\n');
      } else if (chunk.toString('latin1') === 'hello') {
        pair.device.write('+QFUPL: 5,6b09\r\n\r\nOK\r\n');
      }
    });
    const channel = new AtChannel(linkFromDuplex('ttyBG96', pair.host), defaults);
    cleanups.push(() => pair.host.destroy());
    const response = await channel.sendWithPayload('AT+QFUPL="a.pem",5', Buffer.from('hello'), {
      prompt: 'CONNECT',
    });
    expect(response.info).toEqual(['+QFUPL: 5,6b09']);
  });

  it('masks a secret command in the transcript and keeps the rest', async () => {
    const { channel } = channelTo((_, device) => device.write('OK\r\n'));
    await channel.send(`AT%CMNG=0,16842753,2,"${placeholderKeyHeader}\nabc"`, { secret: true });
    const texts = channel.transcript().map((entry) => `${entry.direction} ${entry.text}`);
    expect(texts).toEqual(['tx AT%CMNG=0,16842753,2,<masked 33 bytes>', 'rx OK']);
    expect(JSON.stringify(channel.transcript())).not.toContain('PRIVATE');
  });

  it('writes raw bytes after the command before them, showing only their label in the transcript', async () => {
    const { channel, received } = channelTo((command, device) => {
      if (command.trim() !== '') device.write('OK\r\n');
    });
    const first = channel.send('AT');
    const filler = channel.writeRaw(Buffer.from('    \r\n'), '<6 filler bytes>');
    await first;
    await filler;
    await expect(channel.send('AT')).resolves.toEqual({ info: [] });
    expect(Buffer.concat(received).toString('latin1')).toBe('AT\r\n    \r\nAT\r\n');
    const texts = channel.transcript().map((entry) => `${entry.direction} ${entry.text}`);
    expect(texts).toEqual(['tx AT', 'rx OK', 'tx <6 filler bytes>', 'tx AT', 'rx OK']);
  });
});
