import { describe, expect, it } from "vitest";
import { procReadError, splitNul } from "../../../../agent/proc/proc-read.js";

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated`), { code });
}

describe("procReadError", () => {
  // The tests run as root, where permissions never refuse, so EACCES is simulated here.
  it("explains EACCES: same uid or CAP_SYS_PTRACE", () => {
    const cause = errno("EACCES");
    const err = procReadError(cause, 7, "environ");
    expect(err.code).toBe("KH_ACTION_FAILED");
    expect(err.message).toMatch(/permission denied/);
    expect(err.message).toMatch(/uid/);
    expect(err.message).toMatch(/CAP_SYS_PTRACE/);
    expect(err.cause).toBe(cause);
  });

  it("treats EPERM like EACCES", () => {
    expect(procReadError(errno("EPERM"), 7, "fd").message).toMatch(/CAP_SYS_PTRACE/);
  });

  it("maps a vanished process (ENOENT, ESRCH) to KH_TARGET_NOT_FOUND", () => {
    expect(procReadError(errno("ENOENT"), 7, "stat").code).toBe("KH_TARGET_NOT_FOUND");
    expect(procReadError(errno("ESRCH"), 7, "stat").code).toBe("KH_TARGET_NOT_FOUND");
  });

  it("keeps anything else as KH_ACTION_FAILED with its cause", () => {
    const cause = errno("EIO");
    const err = procReadError(cause, 7, "stat");
    expect(err.code).toBe("KH_ACTION_FAILED");
    expect(err.cause).toBe(cause);
  });
});

describe("splitNul", () => {
  it("splits on NUL and drops only the trailing empty entry", () => {
    expect(splitNul(Buffer.from("a\0\0b\0"))).toEqual(["a", "", "b"]);
    expect(splitNul(Buffer.from("a\0b"))).toEqual(["a", "b"]);
    expect(splitNul(Buffer.alloc(0))).toEqual([]);
  });
});
