/**
 * `keyhole artifacts ls` and `keyhole artifacts get ID [-o FILE]`: stored artifacts from the shell.
 * `get` streams the download to a temporary file beside the target while hashing it, and renames it
 * into place only when the SHA-256 equals the controller's record; on a mismatch the file is removed
 * and the command fails loudly. A progress bar appears only on a terminal (never with --json or when
 * stderr is piped).
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { readFile, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import {
  checkAnswerSignature,
  decodeAnswerSignature,
  publicJwkSchema,
  publicKeyObject,
} from "../../protocol/answer.js";
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

/**
 * An agent's public key from a file: the base64url of its 32 bytes (as the agent logs it and the
 * inventory pins it), a JWK (`{"kty":"OKP","crv":"Ed25519","x":…}`) or an SPKI PEM.
 */
export function readAgentKey(file: string, text: string): KeyObject {
  const trimmed = text.trim();
  try {
    if (/^[A-Za-z0-9_-]{43}$/.test(trimmed)) return publicKeyObject(trimmed);
    if (trimmed.startsWith("{")) {
      const jwk = publicJwkSchema.parse(JSON.parse(trimmed));
      return publicKeyObject(jwk.x);
    }
    const key = createPublicKey(trimmed);
    if (key.asymmetricKeyType === "ed25519") return key;
  } catch {
    // named below
  }
  throw usageError(
    `--agent-key ${file}: not an Ed25519 public key (base64url of 32 bytes, an OKP JWK or an SPKI PEM)`,
  );
}

/** SHA-256 and size of a local file or of the artifact's download. */
async function digestOf(source: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of source) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

/**
 * `keyhole artifacts verify ID`: checks that the artifact's bytes are what its agent signed for its
 * request (protocol/answer.ts). The check runs here, with the agent's public key from `--agent-key`
 * (else the key the controller pinned, reported with the artifact); the controller only supplies the
 * signature and the request's jti, which it cannot forge without the agent's private key.
 */
async function verifyArtifact(
  client: ControllerClient,
  id: string,
  opts: { agentKey?: string; file?: string },
) {
  const { artifact } = await client.getArtifact(id);
  if (!artifact.agentSignature)
    throw new CliError(
      `artifact ${id} carries no agent signature (stored before answers were signed)`,
      1,
      "KH_AGENT_UNVERIFIED",
    );
  let key: KeyObject | string;
  let keySource: "file" | "controller";
  if (opts.agentKey) {
    key = readAgentKey(opts.agentKey, await readFile(opts.agentKey, "utf8"));
    keySource = "file";
  } else if (artifact.agentKey) {
    key = artifact.agentKey;
    keySource = "controller";
  } else throw usageError(`the controller reports no key for artifact ${id}: pass --agent-key FILE`);
  const { request } = await client.getRequest(artifact.requestId);
  if (!request.jti) throw new CliError(`request ${artifact.requestId} has no jti`, 1, "KH_AGENT_UNVERIFIED");
  const content = opts.file
    ? await digestOf(createReadStream(opts.file))
    : await digestOf((await client.downloadArtifact(id)).body as unknown as AsyncIterable<Uint8Array>);
  const decoded = decodeAnswerSignature(artifact.agentSignature);
  const kind = typeof decoded === "string" ? "stream" : decoded.statement.kind;
  const checked = checkAnswerSignature(artifact.agentSignature, key, {
    jti: request.jti,
    agent: artifact.agent,
    action: artifact.action,
    kind: kind === "s3" ? "s3" : "stream",
    sha256: content.sha256,
    bytes: content.bytes,
  });
  if (typeof checked === "string")
    throw new CliError(`artifact ${id} FAILED verification: ${checked}`, 1, "KH_AGENT_UNVERIFIED");
  return { artifact, content, statement: checked.statement, keySource };
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

  artifacts
    .command("verify")
    .description(
      "check that an artifact is what its agent produced for its request: the agent's signature over the request's jti and the bytes' SHA-256, checked here (exit 0 verified, 1 not)",
    )
    .argument("<id>", "the artifact id")
    .option(
      "--agent-key <file>",
      "the agent's public key (base64url, JWK or SPKI PEM); default: the key the controller pinned",
    )
    .option(
      "--file <file>",
      "check this local copy (e.g. from `keyhole artifacts get`) instead of downloading",
    )
    .option("--json", "print JSON")
    .action(async (id: string, opts) => {
      const { artifact, content, statement, keySource } = await verifyArtifact(
        ControllerClient.fromEnv(env),
        id,
        { agentKey: opts.agentKey, file: opts.file },
      );
      if (opts.json)
        return printJson({
          artifact: artifact.id,
          verified: true,
          keySource,
          statement,
          bytes: content.bytes,
        });
      printLine(
        oneLine(
          `artifact ${artifact.id}: ${formatBytes(content.bytes)}, sha256 ${content.sha256} signed by agent ${statement.agent} for request jti ${statement.jti}: verified`,
        ),
      );
      if (keySource === "controller")
        note(
          "note: checked against the key the controller pinned for the agent; pass --agent-key to use your own copy",
        );
    });
}
