/**
 * `keyhole artifacts ls` and `keyhole artifacts get ID [-o FILE]`: stored artifacts from the shell.
 * `get` streams the download to a temporary file beside the target while hashing it, and renames it
 * into place only when the SHA-256 equals the controller's record; on a mismatch the file is removed
 * and the command fails loudly. A progress bar appears only on a terminal (never with --json or when
 * stderr is piped).
 */
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { type ArtifactView, ControllerClient } from "../client.js";
import { CliError, usageError } from "../errors.js";
import { note, oneLine, printJson, printLine, table } from "../output.js";

/** Human sizes: 1.5 MiB. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function artifactsTable(artifacts: readonly ArtifactView[]): string {
  if (artifacts.length === 0) return "no artifacts";
  return table([
    ["ID", "REQUEST", "ACTION", "AGENT", "SIZE", "SHA256", "CREATED", "STATE"],
    ...artifacts.map((a) => [
      a.id,
      a.requestId,
      a.action,
      a.agent,
      formatBytes(a.size),
      `${a.sha256.slice(0, 16)}…`,
      a.createdAt,
      a.deletedAt ? `deleted ${a.deletedAt}` : "stored",
    ]),
  ]);
}

/** A one-line progress bar on stderr, redrawn at most ten times a second. */
function progressBar(total: number): { update(done: number): void; finish(): void } {
  let last = 0;
  const draw = (done: number) => {
    const width = 30;
    const ratio = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(ratio * width);
    process.stderr.write(
      `\r[${"#".repeat(filled)}${".".repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${formatBytes(done)} / ${formatBytes(total)}`,
    );
  };
  return {
    update(done) {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      draw(done);
    },
    finish() {
      draw(total);
      process.stderr.write("\n");
    },
  };
}

/** Downloads, hashes and verifies one artifact into `out`; returns the verified record. */
async function getArtifact(
  client: ControllerClient,
  id: string,
  out: string | undefined,
  opts: { json?: boolean; progress: boolean },
): Promise<{ artifact: ArtifactView; file: string }> {
  const { artifact } = await client.getArtifact(id);
  const file = out ?? artifact.filename;
  const response = await client.downloadArtifact(id);
  const expected = response.headers.get("x-keyhole-sha256") ?? artifact.sha256;
  // Staged beside the target so the final rename never crosses file systems.
  const staging = join(dirname(file), `.${basename(file)}.keyhole-${process.pid}.part`);
  const hash = createHash("sha256");
  let bytes = 0;
  const bar = opts.progress ? progressBar(artifact.size) : undefined;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      bar?.update(bytes);
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      response.body as unknown as NodeJS.ReadableStream,
      meter,
      createWriteStream(staging, { flags: "wx", mode: 0o600 }),
    );
  } catch (err) {
    await rm(staging, { force: true });
    throw new CliError(
      `downloading artifact ${id} failed: ${(err as Error).message}`,
      1,
      "KH_DOWNLOAD_FAILED",
      {
        cause: err,
      },
    );
  }
  bar?.finish();
  const actual = hash.digest("hex");
  if (actual !== expected || actual !== artifact.sha256 || bytes !== artifact.size) {
    await rm(staging, { force: true });
    throw new CliError(
      `artifact ${id} FAILED verification: got ${bytes} bytes with sha256 ${actual}, expected ${artifact.size} bytes with sha256 ${artifact.sha256}; nothing was kept`,
      1,
      "KH_DIGEST_MISMATCH",
    );
  }
  await rename(staging, file);
  return { artifact, file };
}

export function registerArtifactCommands(program: Command, env: NodeJS.ProcessEnv): void {
  const artifacts = program
    .command("artifacts")
    .description("stored artifacts (streamed bundles, heap snapshots): list and download with verification");

  artifacts
    .command("ls")
    .description("list the artifacts you may read, newest first")
    .option("--limit <n>", "at most this many", "50")
    .option("--json", "print JSON")
    .action(async (opts) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500)
        throw usageError("--limit must be an integer from 1 to 500");
      const { artifacts: found } = await ControllerClient.fromEnv(env).listArtifacts({ limit });
      if (opts.json) printJson({ artifacts: found });
      else printLine(artifactsTable(found));
    });

  artifacts
    .command("get")
    .description(
      "download an artifact through the controller and verify its SHA-256 (fails and keeps nothing on a mismatch)",
    )
    .argument("<id>", "the artifact id (`keyhole artifacts ls`, or a completed request's artifactId)")
    .option("-o, --out <file>", "where to write it (default: its file name, in the current folder)")
    .option("--json", "print JSON (no progress bar)")
    .action(async (id: string, opts) => {
      const progress = !opts.json && process.stderr.isTTY === true;
      const { artifact, file } = await getArtifact(ControllerClient.fromEnv(env), id, opts.out, {
        json: opts.json,
        progress,
      });
      if (opts.json) printJson({ artifact, file, verified: true });
      else {
        printLine(oneLine(`${file}: ${formatBytes(artifact.size)}, sha256 ${artifact.sha256} verified`));
        if (artifact.digestSource === "agent-reported")
          note("note: this digest was reported by the agent; the controller checked the size, not the bytes");
      }
    });
}
