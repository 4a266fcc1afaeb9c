import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { makePrivateDir } from "../../../common/private-dir.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), "keyhole-private-dir-"));
  dirs.push(d);
  return d;
}

describe("makePrivateDir", () => {
  it("creates the missing levels with mode 0700, and accepts a directory that exists", () => {
    const root = scratch();
    const deep = join(root, "a", "b", "c");
    makePrivateDir(deep);
    for (const level of [join(root, "a"), join(root, "a", "b"), deep]) {
      expect(statSync(level).isDirectory()).toBe(true);
      expect(statSync(level).mode & 0o777).toBe(0o700);
    }
    makePrivateDir(deep);
    makePrivateDir(`${deep}/`);
  });

  it("refuses a path through a file with ENOTDIR", () => {
    const root = scratch();
    writeFileSync(join(root, "file"), "");
    expect(() => makePrivateDir(join(root, "file"))).toThrowError(
      expect.objectContaining({ code: "ENOTDIR" }) as unknown as Error,
    );
    expect(() => makePrivateDir(join(root, "file", "x"))).toThrowError(
      expect.objectContaining({ code: "ENOTDIR" }) as unknown as Error,
    );
  });

  it("throws, rather than spinning as Node's recursive mkdir does, where procfs refuses a new entry", () => {
    // fs.mkdirSync("/proc/x", { recursive: true }) never returns on Linux: the agent hung at start.
    expect(() => makePrivateDir("/proc/keyhole-no-such-dir/state")).toThrowError(
      expect.objectContaining({ code: "ENOENT" }) as unknown as Error,
    );
  });
});
