/**
 * A real JDK process for the JVM tests: test/fixtures/workloads/jvm/SecretHolder.java, compiled
 * once per content (javac into the temp dir) and started with known secrets in its environment,
 * a system property and its command line. `hasJava` says whether the machine has a JDK (.ci/run
 * installs openjdk-17-jdk-headless where it is missing).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type StartedProcess, startChild } from "./child-process.js";

const SOURCE = fileURLToPath(new URL("../fixtures/workloads/jvm/SecretHolder.java", import.meta.url));

/** The secrets the workload holds. */
export const JVM_SECRETS = {
  /** In its environment as DB_PASSWORD, and in heap strings (concatenated, UTF-16, char[]). */
  env: "pg-jvm-S3cr3t-7f3k29xq81mz",
  /** -Dapp.db.password=…, in a UTF-16 string and a char[]. */
  property: "prop-S3cr3t-91kd83jd72hs",
  /** --client-secret=… on its command line, concatenated in the heap. */
  argv: "argv-S3cr3t-k28dj39sk10a",
  /** A GitHub-token-shaped string built at run time: only its shape gives it away. */
  planted: ["gh", "p_", "Kh0leJvm", "Z9".repeat(14), "xq"].join(""),
} as const;

/** True when `java` and `javac` run here. */
export const hasJava: boolean =
  spawnSync("java", ["-version"], { stdio: "ignore" }).status === 0 &&
  spawnSync("javac", ["-version"], { stdio: "ignore" }).status === 0;

/** Compiles a workload (SecretHolder.java unless told) once per source content; returns its class directory. */
export function compiledWorkload(sourcePath = SOURCE): string {
  const source = readFileSync(sourcePath);
  const dir = join(
    tmpdir(),
    `keyhole-jvm-workload-${createHash("sha256").update(source).digest("hex").slice(0, 16)}`,
  );
  if (existsSync(dir)) return dir;
  const building = `${dir}.${process.pid}`;
  mkdirSync(building, { recursive: true });
  execFileSync("javac", ["-d", building, sourcePath], { stdio: "pipe" });
  try {
    renameSync(building, dir);
  } catch {
    rmSync(building, { recursive: true, force: true }); // another test file compiled it first
  }
  return dir;
}

export interface JvmTarget extends StartedProcess {}

/** Starts the workload; `jvmFlags` go before the class (e.g. -Xrs, -XX:+DisableAttachMechanism). */
export async function startJvmTarget(
  jvmFlags: readonly string[] = [],
  options: { env?: Record<string, string>; cwd?: string; uid?: number; gid?: number; logFile?: string } = {},
): Promise<JvmTarget> {
  const classes = compiledWorkload();
  return startChild({
    name: "jvm-target",
    node: "java",
    args: [
      "-Xmx128m",
      "-XX:+UseSerialGC",
      "-Xshare:auto",
      `-Dapp.db.password=${JVM_SECRETS.property}`,
      ...jvmFlags,
      "-cp",
      classes,
      "SecretHolder",
      `--client-secret=${JVM_SECRETS.argv}`,
    ],
    env: { DB_PASSWORD: JVM_SECRETS.env, ...options.env },
    isReady: (line) => line.ready === true,
    timeoutMs: 30_000,
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.logFile ? { logFile: options.logFile } : {}),
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid } : {}),
  });
}
