/**
 * How envelopes reach the agent. Both transports feed the one request route of app.ts: HTTP by
 * listening (main.ts), NATS by dialling out and injecting each message (nats.ts).
 */
export interface AgentTransport {
  /** Where the agent takes envelopes, for its log: `http://HOST:PORT` or `nats://HOST:PORT/<subject>`. */
  readonly address: string;
  /** Stops taking envelopes; those in flight get `graceMs` to be answered. */
  close(graceMs: number): Promise<void>;
}
