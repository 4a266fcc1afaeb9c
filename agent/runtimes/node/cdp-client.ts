/**
 * A minimal Chrome DevTools Protocol client over one WebSocket (ws): numbered commands with their
 * replies, and one handler per event name. It sends only the commands the agent's own code names;
 * nothing from a request ever reaches `send`.
 *
 * ws rather than Node's global WebSocket: that one cannot pause reading, which the heap snapshot
 * stream needs to push back on the target (snapshot-stream.ts), and has no message size limit or
 * terminate().
 */
import type WebSocket from "ws";

/**
 * ws is loaded by the first inspector connection, not at the agent's start: most agents answer
 * process-info, env and log-tail for days without opening an inspector.
 */
let wsModule: Promise<typeof import("ws")> | undefined;
const loadWs = () => {
  wsModule ??= import("ws");
  return wsModule;
};

/** A CDP command that the target answered with an error. */
export class CdpError extends Error {
  constructor(
    readonly method: string,
    readonly cdpCode: number | undefined,
    message: string,
  ) {
    super(`${method}: ${message}`);
    this.name = "CdpError";
  }
}

/** The connection closed before the reply came. */
export class CdpClosedError extends Error {
  constructor(method: string) {
    super(`the inspector connection closed before ${method} answered`);
    this.name = "CdpClosedError";
  }
}

type Pending = { method: string; resolve: (value: unknown) => void; reject: (err: Error) => void };
type EventHandler = (params: Record<string, unknown>) => void;

/**
 * The largest message accepted. A heap snapshot arrives in small chunks; the largest single
 * messages are a long CPU profile and a diagnostic report, well under this.
 */
const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** One CDP connection. */
export class CdpClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly handlers = new Map<string, EventHandler>();
  /** Resolves once the socket is closed, whoever closed it. */
  readonly closed: Promise<void>;

  private constructor(private readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once("close", () => resolve()));
    ws.on("message", (data: Buffer) => this.onMessage(data));
    ws.once("close", () => {
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new CdpClosedError(p.method));
      }
    });
    // Errors end in "close"; the handler only keeps ws from throwing them at the process.
    ws.on("error", () => {});
  }

  /** Connects to `url` (the caller checked it is loopback), giving up after `timeoutMs` or on `signal`. */
  static async connect(url: string, timeoutMs: number, signal?: AbortSignal): Promise<CdpClient> {
    const { WebSocket } = await loadWs();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, {
        perMessageDeflate: false,
        maxPayload: MAX_MESSAGE_BYTES,
        handshakeTimeout: timeoutMs,
        followRedirects: false,
      });
      const onAbort = () => ws.terminate();
      signal?.addEventListener("abort", onAbort, { once: true });
      ws.once("open", () => {
        signal?.removeEventListener("abort", onAbort);
        resolve(new CdpClient(ws));
      });
      ws.once("error", (err) => {
        signal?.removeEventListener("abort", onAbort);
        reject(err);
      });
      ws.once("close", () => reject(new Error("the inspector closed the connection while connecting")));
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** Sends one command; resolves with its `result`, rejects with CdpError or CdpClosedError. */
  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    if (!this.isOpen) return Promise.reject(new CdpClosedError(method));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { method, resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }), (err) => {
        if (!err) return;
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  /** Sets (or with undefined, removes) the handler of one event. */
  on(event: string, handler: EventHandler | undefined): void {
    if (handler) this.handlers.set(event, handler);
    else this.handlers.delete(event);
  }

  /**
   * Stops reading from the socket, so a slow consumer pushes back on the target through TCP
   * instead of growing a queue here. A few already-read messages may still arrive.
   */
  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }

  /** Drops the connection at once (no closing handshake: the peer may be busy for seconds). */
  terminate(): void {
    this.ws.terminate();
  }

  private onMessage(data: Buffer): void {
    let message: {
      id?: number;
      method?: string;
      params?: Record<string, unknown>;
      result?: unknown;
      error?: { code?: number; message?: string };
    };
    try {
      message = JSON.parse(data.toString("utf8"));
    } catch {
      return;
    }
    if (typeof message.id === "number") {
      const p = this.pending.get(message.id);
      if (!p) return;
      this.pending.delete(message.id);
      if (message.error)
        p.reject(new CdpError(p.method, message.error.code, message.error.message ?? "error"));
      else p.resolve(message.result ?? {});
    } else if (typeof message.method === "string") {
      this.handlers.get(message.method)?.(message.params ?? {});
    }
  }
}
