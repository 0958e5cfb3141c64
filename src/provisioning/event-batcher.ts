import type { ProvisioningEvent } from '../api/provisioning.js';

/**
 * Hands events to a slow consumer (a UI, a terminal) in batches at ~30 Hz, so 32 busy ports never flood
 * it and a slow consumer never slows a device (style.md: Arduino's 32 ms serial monitor flush).
 * Progress events of a port replace each other within a batch; every other event is kept in order.
 */
export class EventBatcher {
  private pending: ProvisioningEvent[] = [];
  private readonly latestProgress = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly deliver: (events: ProvisioningEvent[]) => void,
    private readonly intervalMs = 33,
  ) {}

  push(event: ProvisioningEvent): void {
    if (event.type === 'progress') {
      const key = `${event.port}\u0000${event.recordId}`;
      const index = this.latestProgress.get(key);
      if (index !== undefined) {
        this.pending[index] = event;
        return;
      }
      this.latestProgress.set(key, this.pending.length);
    }
    this.pending.push(event);
    this.timer ??= setTimeout(() => this.flush(), this.intervalMs);
  }

  /** Delivers what is pending now (also called on shutdown so nothing is lost). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.latestProgress.clear();
    this.deliver(batch);
  }
}
