/**
 * A minimal etcd v3 client over etcd's JSON gateway (/v3/kv/..., served on the client port by 3.4,
 * 3.5 and 3.6). In-process HTTPS keeps a write loop's timing at request resolution instead of the
 * tens of milliseconds an etcdctl process per write would add, and it speaks mutual TLS with the
 * client certificate etcd-pki.sh issued, exactly as kube-apiserver would.
 */
import { Agent, request } from "https";

export interface ClientTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** A request etcd answered with an error, or that got no answer in time. */
export class EtcdRequestError extends Error {
  constructor(
    message: string,
    readonly kind: "etcd" | "timeout" | "connection",
  ) {
    super(message);
    this.name = "EtcdRequestError";
  }
}

export interface EtcdStatus {
  readonly memberId: string;
  readonly leader: string;
  readonly raftTerm: number;
}

interface ResponseHeader {
  readonly member_id?: string;
  readonly revision?: string;
  readonly raft_term?: string;
}

const encode = (text: string): string => Buffer.from(text, "utf8").toString("base64");
const decode = (base64: string): string => Buffer.from(base64, "base64").toString("utf8");

/** The range_end that selects every key starting with prefix (etcd's "prefix + 1" convention). */
function prefixRangeEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, "utf8");
  for (let index = bytes.length - 1; index >= 0; index -= 1) {
    if (bytes[index] < 0xff) {
      bytes[index] += 1;
      return bytes.subarray(0, index + 1).toString("base64");
    }
  }
  return Buffer.from([0]).toString("base64");
}

export class EtcdHttpClient {
  private readonly agents = new Map<string, Agent>();

  constructor(private readonly tls: ClientTls) {}

  /** Resolves with the revision the write was committed at: an acknowledged write. */
  async put(endpoint: string, key: string, value: string, timeoutMs: number, options: { requireLeader?: boolean } = {}): Promise<number> {
    // requireLeader: etcd's WithRequireLeader, over the gateway as gRPC metadata "hasleader". A member
    // without a leader then answers at once with "etcdserver: no leader" instead of holding the
    // write until its request timeout.
    const headers: Record<string, string> = options.requireLeader ? { "grpc-metadata-hasleader": "true" } : {};
    const response = await this.call<{ header?: ResponseHeader }>(endpoint, "/v3/kv/put", { key: encode(key), value: encode(value) }, timeoutMs, headers);
    return Number(response.header?.revision ?? 0);
  }

  /** Every key under prefix, by a linearizable read (the member confirms with the leader first). */
  async keysWithPrefix(endpoint: string, prefix: string, timeoutMs: number): Promise<string[]> {
    const response = await this.call<{ kvs?: Array<{ key: string }> }>(
      endpoint,
      "/v3/kv/range",
      { key: encode(prefix), range_end: prefixRangeEnd(prefix), keys_only: true },
      timeoutMs,
    );
    return (response.kvs ?? []).map((kv) => decode(kv.key));
  }

  async status(endpoint: string, timeoutMs: number): Promise<EtcdStatus> {
    const response = await this.call<{ header?: ResponseHeader; leader?: string }>(endpoint, "/v3/maintenance/status", {}, timeoutMs);
    return {
      memberId: response.header?.member_id ?? "",
      leader: response.leader ?? "0",
      raftTerm: Number(response.header?.raft_term ?? 0),
    };
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private agentFor(endpoint: string): Agent {
    let agent = this.agents.get(endpoint);
    if (!agent) {
      // keepAlive: one TLS handshake per endpoint, so a write costs one round trip like a gRPC client.
      agent = new Agent({ keepAlive: true, maxSockets: 4, ca: this.tls.ca, cert: this.tls.cert, key: this.tls.key });
      this.agents.set(endpoint, agent);
    }
    return agent;
  }

  private call<T>(endpoint: string, path: string, body: object, timeoutMs: number, extraHeaders: Record<string, string> = {}): Promise<T> {
    const url = new URL(path, endpoint);
    const payload = JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        outcome();
      };
      const req = request(
        url,
        {
          method: "POST",
          agent: this.agentFor(endpoint),
          headers: { ...extraHeaders, "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", (error) => settle(() => reject(new EtcdRequestError(error.message, "connection"))));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            let parsed: { error?: string; message?: string } & Record<string, unknown>;
            try {
              parsed = JSON.parse(text) as typeof parsed;
            } catch {
              settle(() => reject(new EtcdRequestError(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`, "etcd")));
              return;
            }
            if (res.statusCode !== 200 || parsed.error !== undefined) {
              settle(() => reject(new EtcdRequestError(parsed.message ?? parsed.error ?? `HTTP ${res.statusCode}`, "etcd")));
              return;
            }
            settle(() => resolve(parsed as T));
          });
        },
      );
      // A hung request (a proposal waiting for a leader that is gone) must not stall the caller.
      const timer = setTimeout(() => {
        settle(() => reject(new EtcdRequestError(`no answer within ${timeoutMs} ms`, "timeout")));
        req.destroy();
      }, timeoutMs);
      req.on("error", (error: NodeJS.ErrnoException) =>
        settle(() => reject(new EtcdRequestError(error.code ?? error.message, "connection"))),
      );
      req.end(payload);
    });
  }
}
