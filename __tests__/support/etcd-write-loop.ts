/**
 * A client that writes continuously, the way kube-apiserver does: one write in flight, every member
 * in its endpoint list, moving to the next endpoint when a write fails. It records every write etcd
 * acknowledged (so a later read can prove none was lost) and every failure with its error text.
 */
import { performance } from "perf_hooks";
import { EtcdHttpClient, EtcdRequestError } from "./etcd-http-client";

export interface AcknowledgedWrite {
  readonly key: string;
  readonly revision: number;
  readonly startedAtMs: number;
  readonly acknowledgedAtMs: number;
}

export interface FailedWrite {
  readonly key: string;
  readonly endpoint: string;
  readonly startedAtMs: number;
  readonly failedAtMs: number;
  readonly error: string;
}

export class WriteLoop {
  readonly acknowledged: AcknowledgedWrite[] = [];
  readonly failed: FailedWrite[] = [];
  private sequence = 0;
  private endpointIndex = 0;
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly client: EtcdHttpClient,
    private readonly endpoints: readonly string[],
    private readonly keyPrefix: string,
    private readonly requestTimeoutMs: number,
    private readonly options: { readonly requireLeader?: boolean } = {},
  ) {}

  start(): void {
    if (this.loop) throw new Error("write loop already running");
    this.stopping = false;
    this.loop = this.run();
  }

  /** Waits for the write in flight, so every write is either acknowledged or failed afterwards. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    this.loop = undefined;
  }

  /** The first write that was started at or after `atMs` and acknowledged. */
  firstAcknowledgedStartedAfter(atMs: number): AcknowledgedWrite | undefined {
    return this.acknowledged.find((write) => write.startedAtMs >= atMs);
  }

  /** Resolves once a write started at or after `atMs` is acknowledged; rejects after `timeoutMs`. */
  async waitForAcknowledgedAfter(atMs: number, timeoutMs: number): Promise<AcknowledgedWrite> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const write = this.firstAcknowledgedStartedAfter(atMs);
      if (write) return write;
      if (performance.now() > deadline) {
        const lastError = this.failed.at(-1)?.error ?? "none";
        throw new Error(`no write acknowledged within ${timeoutMs} ms (last error: ${lastError})`);
      }
      await sleep(20);
    }
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      this.sequence += 1;
      const key = `${this.keyPrefix}${String(this.sequence).padStart(6, "0")}`;
      const endpoint = this.endpoints[this.endpointIndex % this.endpoints.length];
      const startedAtMs = performance.now();
      try {
        const revision = await this.client.put(endpoint, key, String(this.sequence), this.requestTimeoutMs, this.options);
        this.acknowledged.push({ key, revision, startedAtMs, acknowledgedAtMs: performance.now() });
      } catch (error) {
        const message = error instanceof EtcdRequestError ? `${error.kind}: ${error.message}` : String(error);
        this.failed.push({ key, endpoint, startedAtMs, failedAtMs: performance.now(), error: message });
        this.endpointIndex += 1;
        // A refused connection fails in microseconds; pace retries like a client backoff would.
        await sleep(25);
      }
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolveSleep) => setTimeout(resolveSleep, ms));
}
