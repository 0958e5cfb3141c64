import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { OperatorPrompt } from './operator-prompt.js';

function terminal(isTTY = false) {
  const input = Object.assign(new PassThrough(), { isTTY });
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const events: string[] = [];
  const prompt = new OperatorPrompt(input, output, {
    asking: () => events.push('asking'),
    answered: () => events.push('answered'),
  });
  return { input, prompt, events, text: () => text };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('OperatorPrompt', () => {
  it('asks one port at a time and takes the lines in order, writing the dialogue', async () => {
    const { input, prompt, events, text } = terminal();
    const first = prompt.ask('/dev/ttyACM0', 'Scan the label');
    const second = prompt.ask('/dev/ttyACM1', 'Scan the label');
    await tick();
    expect(text()).toBe('/dev/ttyACM0: Scan the label: ');
    input.write('\nSN-1\n');
    expect(await first).toBe('SN-1');
    input.write('SN-2\n');
    expect(await second).toBe('SN-2');
    expect(text()).toBe(
      '/dev/ttyACM0: Scan the label: /dev/ttyACM0: Scan the label: SN-1\n/dev/ttyACM1: Scan the label: SN-2\n',
    );
    expect(events).toEqual(['asking', 'answered', 'asking', 'answered']);
    prompt.close();
  });

  it('withdraws a question whose step ended, and asks the next', async () => {
    const { input, prompt, text } = terminal();
    const step = new AbortController();
    const withdrawn = prompt.ask('/dev/ttyACM0', 'Scan the label', step.signal);
    const next = prompt.ask('/dev/ttyACM1', 'Scan the label');
    await tick();
    step.abort(new Error('no answer within 120 s'));
    await expect(withdrawn).rejects.toThrow('no answer within 120 s');
    input.write('SN-9\n');
    expect(await next).toBe('SN-9');
    expect(text()).toContain('(withdrawn)\n/dev/ttyACM1: Scan the label: SN-9');
    prompt.close();
  });

  it('fails the open and later questions once the input has ended', async () => {
    const { input, prompt } = terminal();
    const open = prompt.ask('/dev/ttyACM0', 'Scan the label');
    await tick();
    input.end();
    await expect(open).rejects.toMatchObject({ code: 'provisioning.operator-input-missing' });
    await expect(prompt.ask('/dev/ttyACM1', 'Scan the label')).rejects.toMatchObject({
      code: 'provisioning.operator-input-missing',
    });
  });

  it('on a terminal, ignores a line typed while no question is open', async () => {
    const { input, prompt } = terminal(true);
    const unused = prompt.ask('/dev/ttyACM0', 'Scan the label');
    input.write('SN-1\n');
    expect(await unused).toBe('SN-1'); // starts the reader
    input.write('stray\n');
    await tick();
    const asked = prompt.ask('/dev/ttyACM1', 'Scan the label');
    input.write('SN-2\n');
    expect(await asked).toBe('SN-2');
    prompt.close();
  });
});
