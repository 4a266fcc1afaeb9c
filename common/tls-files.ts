/**
 * TLS material from PEM files, shared by the agent and the controller: read once at start (a file
 * that cannot be read or does not fit stops start-up), then watched, so a rotated certificate is
 * taken up without a restart (docs/operations.md, "TLS"). Watching is by polling `stat`, which
 * follows symlinks: Kubernetes swaps a mounted Secret's `..data` symlink rather than writing the
 * files, which an inotify watch on the file itself misses.
 */
import { readFileSync, statSync } from "node:fs";
import { createSecureContext } from "node:tls";

/** Paths of PEM files; each is optional, which ones a side needs is its own business. */
export interface TlsFilePaths {
  /** Certificate chain, leaf first. */
  readonly cert?: string | undefined;
  /** Private key of that certificate. */
  readonly key?: string | undefined;
  /** CA bundle to verify the peer against. */
  readonly ca?: string | undefined;
}

/** The files' contents, as node:tls takes them. */
export interface TlsMaterial {
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly ca?: Buffer;
}

/** Reads every named file and checks they make a usable TLS context (a key that fits its certificate). */
export function readTlsFiles(paths: TlsFilePaths): TlsMaterial {
  const material: { cert?: Buffer; key?: Buffer; ca?: Buffer } = {};
  for (const part of ["cert", "key", "ca"] as const) {
    const file = paths[part];
    if (file === undefined) continue;
    try {
      material[part] = readFileSync(file);
    } catch (err) {
      throw new Error(
        `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  }
  try {
    // Throws on a malformed PEM, or a key that is not the certificate's ("key values mismatch").
    createSecureContext({ ...material });
  } catch (err) {
    const files = Object.values(paths).filter(Boolean).join(", ");
    throw new Error(`${files}: not a usable certificate, key and CA (${(err as Error).message})`, {
      cause: err,
    });
  }
  return material;
}

/** What the files look like on disk; a change of any of them means reading them again. */
function fingerprint(paths: TlsFilePaths): string {
  return Object.values(paths)
    .filter((p): p is string => p !== undefined)
    .map((file) => {
      try {
        const s = statSync(file);
        return `${file}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
      } catch {
        return `${file}:missing`;
      }
    })
    .join("|");
}

/** Minimal logger both sides' pino loggers satisfy. */
interface Log {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Polls `paths` every `intervalMs`; when any changed, reads them all again and hands the material
 * to `apply`. Half-rotated files (a new certificate beside the old key) do not fit: the old
 * material stays in force, a warning is logged, and the next poll tries again.
 */
export class TlsFileWatcher {
  private seen: string;
  private failedAt: string | undefined;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly paths: TlsFilePaths,
    private readonly options: {
      readonly intervalMs: number;
      readonly apply: (material: TlsMaterial) => void;
      readonly log: Log;
      /** Names the material in log lines, e.g. "the agent's server certificate". */
      readonly what: string;
    },
  ) {
    this.seen = fingerprint(paths);
    this.timer = setInterval(() => this.check(), options.intervalMs);
    this.timer.unref();
  }

  /** Reads the files again if they changed since the last successful read; true when it applied them. */
  check(): boolean {
    const now = fingerprint(this.paths);
    if (now === this.seen) return false;
    try {
      this.options.apply(readTlsFiles(this.paths));
    } catch (err) {
      // Logged once per state of the files, not on every poll.
      if (this.failedAt !== now)
        this.options.log.warn(
          { err: (err as Error).message },
          `${this.options.what} changed on disk but cannot be used; the previous one stays in force`,
        );
      this.failedAt = now;
      return false;
    }
    this.seen = now;
    this.failedAt = undefined;
    this.options.log.info(
      { files: Object.values(this.paths).filter(Boolean) },
      `${this.options.what} reloaded`,
    );
    return true;
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/**
 * Whether a connection failed in TLS: the peer's certificate did not verify (unknown CA, expired,
 * names another host), the peer refused ours, or it does not speak TLS at all.
 */
export function isTlsError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== "string") return false;
  return (
    code.startsWith("ERR_SSL_") ||
    code.startsWith("ERR_TLS_") ||
    code === "EPROTO" ||
    /^(UNABLE_TO_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|HOSTNAME_MISMATCH|INVALID_CA|INVALID_PURPOSE|CERT_REJECTED|CERT_UNTRUSTED)/.test(
      code,
    )
  );
}
