import { execFileSync } from "node:child_process";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { logTailParams, runLogTail } from "../../../../agent/actions/log-tail.js";
import { AgentError } from "../../../../agent/errors.js";
import { isInside } from "../../../../agent/proc/log-file.js";
import { type LogDirs, logCtx, makeLogDirs } from "./fixture.js";

const OUTSIDE_SECRET = "outside-file-content-must-never-leave";

let dirs: LogDirs;
beforeAll(() => {
  dirs = makeLogDirs();
  const { base, root } = dirs;
  writeFileSync(join(root, "app.log"), "inside 1\ninside 2\n");
  mkdirSync(join(root, "nested"));
  writeFileSync(join(root, "nested", "deep.log"), "deep\n");
  writeFileSync(join(base, "outside.log"), `${OUTSIDE_SECRET}\n`);
  mkdirSync(join(base, "elsewhere"));
  writeFileSync(join(base, "elsewhere", "secret.log"), `${OUTSIDE_SECRET}\n`);
  mkdirSync(join(base, "logs2"));
  writeFileSync(join(base, "logs2", "app.log"), `${OUTSIDE_SECRET}\n`);
  symlinkSync(join(base, "outside.log"), join(root, "link-out.log"));
  symlinkSync("../outside.log", join(root, "relative-link-out.log"));
  symlinkSync(join(base, "elsewhere"), join(root, "dir-out"));
  symlinkSync("app.log", join(root, "link-in.log"));
  symlinkSync("/proc/self/environ", join(root, "environ-link"));
  execFileSync("mkfifo", [join(root, "pipe.log")]);
  // A symlinked root: the agent is configured with the link, the files live behind it.
  symlinkSync(root, join(base, "root-link"));
});
afterAll(() => dirs.cleanup());

async function refusal(file: string, roots: readonly string[] = [dirs.root]): Promise<AgentError> {
  try {
    const result = await runLogTail(logTailParams.parse({ file }), logCtx(roots));
    throw new Error(`expected a refusal, got ${JSON.stringify(result)}`);
  } catch (err) {
    if (!(err instanceof AgentError)) throw err;
    expect(err.message).not.toContain(OUTSIDE_SECRET);
    return err;
  }
}

describe("log-tail path policy: every escape is KH_PATH_DENIED", () => {
  const cases: [string, () => string][] = [
    ["a '..' segment", () => "../outside.log"],
    ["a '..' segment in the middle", () => "nested/../../outside.log"],
    ["a '..' inside an absolute path under the root", () => `${dirs.root}/../outside.log`],
    ["an absolute path elsewhere", () => "/etc/passwd"],
    ["a symlink in the root pointing out (absolute target)", () => "link-out.log"],
    ["a symlink in the root pointing out (relative target)", () => "relative-link-out.log"],
    ["a symlinked directory pointing out", () => "dir-out/secret.log"],
    ["a missing file behind a symlinked directory pointing out", () => "dir-out/no-such.log"],
    ["/proc/self/environ", () => "/proc/self/environ"],
    ["a symlink to /proc/self/environ", () => "environ-link"],
    ["a NUL byte", () => "app.log\0.txt"],
    ["an empty path", () => ""],
    ["a sibling directory with the root as its prefix", () => `${dirs.base}/logs2/app.log`],
    ["the root directory itself", () => "."],
    ["a directory", () => "nested"],
    ["a FIFO", () => "pipe.log"],
    ["a device", () => "/dev/zero"],
  ];
  it.each(cases)("%s", async (_name, file) => {
    const err = await refusal(file());
    expect(err.code).toBe("KH_PATH_DENIED");
    expect(err.status).toBe(403);
  });

  it("says so when the agent has no --log-root", async () => {
    const err = await refusal("app.log", []);
    expect(err.code).toBe("KH_PATH_DENIED");
    expect(err.message).toContain("--log-root");
  });

  it("compares with a trailing separator", () => {
    expect(isInside("/var/log/app/x.log", "/var/log/app")).toBe(true);
    expect(isInside("/var/log/app2/x.log", "/var/log/app")).toBe(false);
    expect(isInside("/var/log/app", "/var/log/app")).toBe(true);
    expect(isInside("/anything", "/")).toBe(true);
  });
});

describe("log-tail path policy: what is allowed", () => {
  it("reads paths relative to the root, absolute inside it, and symlinks that stay inside", async () => {
    const read = async (file: string, roots = [dirs.root]) =>
      (await runLogTail(logTailParams.parse({ file }), logCtx(roots))).lines;
    expect(await read("app.log")).toEqual(["inside 1", "inside 2"]);
    expect(await read("./nested/deep.log")).toEqual(["deep"]);
    expect(await read(join(dirs.root, "app.log"))).toEqual(["inside 1", "inside 2"]);
    expect(await read("link-in.log")).toEqual(["inside 1", "inside 2"]);
    const link = join(dirs.base, "root-link");
    expect(await read("app.log", [link])).toEqual(["inside 1", "inside 2"]);
    expect(await read(join(link, "app.log"), [link])).toEqual(["inside 1", "inside 2"]);
  });

  it("tries each root in order for a relative path", async () => {
    const lines = (
      await runLogTail(
        logTailParams.parse({ file: "deep.log" }),
        logCtx([dirs.root, join(dirs.root, "nested")]),
      )
    ).lines;
    expect(lines).toEqual(["deep"]);
  });

  it("answers a missing file inside the roots with KH_FILE_NOT_FOUND, not a path refusal", async () => {
    const err = await refusal("no-such.log");
    expect(err.code).toBe("KH_FILE_NOT_FOUND");
    expect(err.message).toContain("no such file");
  });
});
