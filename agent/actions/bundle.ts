/**
 * `bundle` `{actions: [{action, params}…], gzip?}`: several actions' results in one tar, with a
 * `manifest.json` naming each entry's size, SHA-256, action, params and times, and the request
 * and agent it came from. Always streamed. Every nested action and its params are checked before
 * the first one runs; nested actions run one after the other under the bundle's own limits.
 */
import { createHash } from "node:crypto";
import { PassThrough } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import { BUNDLE_ACTION, type BundleParams, bundleParams } from "../../protocol/actions.js";
import {
  checkSpoolRoom,
  DEFAULT_SPOOL_MAX_BYTES,
  type Spooled,
  type SpoolOptions,
  spool,
} from "../bundle/spool.js";
import { AgentError } from "../errors.js";
import { type ActionContext, type ActionDefinition, defineAction, StreamedResult } from "./types.js";

export { BUNDLE_ACTION };

/** One entry of `manifest.json`. */
export interface ManifestEntry {
  readonly name: string;
  readonly size: number;
  readonly sha256: string;
  readonly action: string;
  readonly params: unknown;
  readonly startedAt: string;
  readonly finishedAt: string;
}

interface Planned {
  readonly action: ActionDefinition;
  readonly params: unknown;
  readonly rawParams: Record<string, unknown>;
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Where and how much a bundle may spool (issue 23, finding 9). */
function spoolOptions(ctx: ActionContext): SpoolOptions {
  return {
    maxBytes: ctx.spoolMaxBytes ?? DEFAULT_SPOOL_MAX_BYTES,
    ...(ctx.spoolDir ? { dir: ctx.spoolDir } : {}),
    ...(ctx.spoolVolume ? { volume: ctx.spoolVolume } : {}),
  };
}

/** Builds the bundle action over the given single actions (a bundle never contains a bundle). */
export function createBundleAction(registry: ReadonlyMap<string, ActionDefinition>) {
  if (registry.has(BUNDLE_ACTION))
    throw new Error("a bundle cannot contain bundles: pass the single actions");
  const params = bundleParams.superRefine((value, issues) => {
    value.actions.forEach((entry, index) => {
      const action = registry.get(entry.action);
      if (!action) {
        issues.addIssue({
          code: "custom",
          path: ["actions", index, "action"],
          message: `unknown action ${entry.action}`,
        });
        return;
      }
      const parsed = action.params.safeParse(entry.params);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        issues.addIssue({
          code: "custom",
          path: ["actions", index, "params", ...(first?.path ?? [])].map((p) =>
            typeof p === "symbol" ? String(p) : p,
          ),
          message: first?.message ?? "invalid params",
        });
      }
    });
  });

  /** Checks every entry before anything runs: enabled here, params valid. */
  function plan(entries: BundleParams["actions"], ctx: ActionContext): Planned[] {
    return entries.map((entry) => {
      if (!ctx.enabledActions?.has(entry.action)) {
        throw new AgentError(
          "KH_ACTION_DISABLED",
          `bundle entry ${entry.action} is not enabled on this agent`,
        );
      }
      const action = registry.get(entry.action)!;
      return { action, params: action.params.parse(entry.params), rawParams: entry.params };
    });
  }

  async function runEntry(planned: Planned, index: number, ctx: ActionContext) {
    const startedAt = new Date().toISOString();
    // A bundle takes a JSON value or a stream from each entry, whatever its own output mode.
    const { outputMode: _mode, ...entryCtx } = ctx;
    const result = await planned.action.run(planned.params, entryCtx);
    ctx.signal.throwIfAborted();
    const base = `${String(index + 1).padStart(2, "0")}-${planned.action.name}`;
    if (result instanceof StreamedResult) {
      const spooled = await spool(result.stream, ctx.signal, spoolOptions(ctx));
      return { name: `${base}-${result.filename}`, spooled, startedAt };
    }
    const data = Buffer.from(`${JSON.stringify(result, null, 2)}\n`);
    return { name: `${base}.json`, data, startedAt };
  }

  return defineAction({
    name: BUNDLE_ACTION,
    description: "Several actions' results in one tar with a manifest of SHA-256 digests.",
    params,
    outputs: ["stream"],
    limits: { timeoutMs: 10 * 60_000, maxConcurrency: 1, maxOutputBytes: 4 * 1024 ** 3 },
    async run(input, ctx) {
      const planned = plan(input.actions, ctx);
      // A full temp volume is refused now, with a coded answer, not once the stream has started.
      if (planned.some((p) => p.action.outputs?.includes("stream"))) await checkSpoolRoom(spoolOptions(ctx));
      // tar-stream (and streamx under it) is loaded by the first bundle, not at the agent's start.
      const { default: tar } = await import("tar-stream");
      const pack = tar.pack();
      const out = new PassThrough();
      const createdAt = new Date().toISOString();
      const spooled: Spooled[] = [];

      // Produce the tar in the background; the caller reads `out` as it fills (backpressure
      // holds the producer when the client is slow).
      const produce = async () => {
        const manifest: ManifestEntry[] = [];
        // Every entry runs (and spools) before the tar's first byte, so a refused entry — a guard, a
        // rate limit, the spool cap — ends the bundle with its coded answer before anything is sent,
        // in stream mode as in s3 mode (issue 23 attack, N7: a refusal after the answer had begun was
        // a malformed 500 or a broken stream, and its code was lost).
        const results: { entry: Planned; done: Awaited<ReturnType<typeof runEntry>> }[] = [];
        for (const [index, entry] of planned.entries()) {
          const done = await runEntry(entry, index, ctx);
          if ("spooled" in done && done.spooled) spooled.push(done.spooled);
          results.push({ entry, done });
        }
        for (const { entry, done } of results) {
          let size: number;
          let digest: string;
          if ("spooled" in done && done.spooled) {
            size = done.spooled.size;
            digest = done.spooled.sha256;
            const sink = pack.entry({ name: done.name, size, mtime: new Date() });
            await pipeline(done.spooled.open(), sink, { signal: ctx.signal });
            await done.spooled.remove();
          } else {
            const data = (done as { data: Buffer }).data;
            size = data.length;
            digest = sha256(data);
            pack.entry({ name: done.name, size, mtime: new Date() }, data);
          }
          manifest.push({
            name: done.name,
            size,
            sha256: digest,
            action: entry.action.name,
            params: entry.rawParams,
            startedAt: done.startedAt,
            finishedAt: new Date().toISOString(),
          });
        }
        const body = Buffer.from(
          `${JSON.stringify(
            {
              requestId: ctx.requestId,
              agent: ctx.agentId,
              pid: ctx.pid,
              createdAt,
              finishedAt: new Date().toISOString(),
              entries: manifest,
            },
            null,
            2,
          )}\n`,
        );
        pack.entry({ name: "manifest.json", size: body.length, mtime: new Date() }, body);
        pack.finalize();
      };

      const piping = input.gzip ? pipeline(pack, createGzip(), out) : pipeline(pack, out);
      piping.catch((err: unknown) => out.destroy(err as Error));
      produce().catch((err: unknown) => {
        pack.destroy(err as Error);
        out.destroy(err as Error);
      });
      // Whatever ends the stream — done, failed, client gone — spooled files are removed.
      out.once("close", () => {
        for (const file of spooled) void file.remove();
      });
      return new StreamedResult(
        out,
        input.gzip ? "application/gzip" : "application/x-tar",
        `bundle-${ctx.pid}-${createdAt.replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}.tar${input.gzip ? ".gz" : ""}`,
      );
    },
  });
}
