import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ProvisioningEvent } from '../api/provisioning.js';
import { EventBatcher } from './event-batcher.js';

const progress = (port: string, done: number): ProvisioningEvent => ({
  type: 'progress',
  port,
  at: done,
  recordId: 1,
  step: 'write',
  done,
  total: 100,
});

describe('EventBatcher', () => {
  afterEach(() => vi.useRealTimers());

  it('delivers events in one batch per interval, keeping only the latest progress of each port', () => {
    vi.useFakeTimers();
    const batches: ProvisioningEvent[][] = [];
    const batcher = new EventBatcher((events) => batches.push(events), 33);
    batcher.push({ type: 'step-begin', port: 'a', at: 0, recordId: 1, step: 'write' });
    for (let done = 1; done <= 50; done++) batcher.push(progress('a', done));
    batcher.push(progress('b', 7));
    expect(batches).toHaveLength(0);
    vi.advanceTimersByTime(33);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((e) => `${e.type}:${e.port}:${e.type === 'progress' ? e.done : ''}`)).toEqual([
      'step-begin:a:',
      'progress:a:50',
      'progress:b:7',
    ]);
  });

  it('flushes what is pending on demand and then stays quiet', () => {
    vi.useFakeTimers();
    const batches: ProvisioningEvent[][] = [];
    const batcher = new EventBatcher((events) => batches.push(events));
    batcher.push({ type: 'port-unplugged', port: 'a', at: 1 });
    batcher.flush();
    vi.advanceTimersByTime(100);
    expect(batches).toEqual([[{ type: 'port-unplugged', port: 'a', at: 1 }]]);
  });
});
