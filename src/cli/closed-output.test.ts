import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { outliveClosedOutput } from './closed-output.js';

it('lets the run go on when its output is closed under it (EPIPE), the output then ignored', async () => {
  const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
  const output = new Writable({ write: (_chunk, _encoding, done) => done(epipe) });
  outliveClosedOutput(output);
  output.write('first line\n');
  await new Promise((resolve) => setImmediate(resolve)); // the 'error' event comes on a later tick
  expect(output.destroyed).toBe(true);
  expect(() => output.write('summary\n')).not.toThrow();
});
