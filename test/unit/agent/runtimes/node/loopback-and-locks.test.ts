import { describe, expect, it } from "vitest";
import { AgentError } from "../../../../../agent/errors.js";
import { debuggerUrl } from "../../../../../agent/runtimes/node/inspector-http.js";
import { TargetLocks } from "../../../../../agent/runtimes/node/target-locks.js";
import { isLoopbackHost, loopbackDialAddress } from "../../../../../common/loopback.js";

const target = (url: string) => ({ id: "x", type: "node", webSocketDebuggerUrl: url });

describe("loopback", () => {
  it("knows loopback from the rest", () => {
    for (const host of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
      expect(isLoopbackHost(host)).toBe(true);
    for (const host of ["10.0.0.7", "0.0.0.0", "::", "example.com", "127.0.0.1.example.com"]) {
      expect(isLoopbackHost(host)).toBe(false);
    }
  });
  it("dials a wildcard listener on the loopback of its family, and nothing else", () => {
    expect(loopbackDialAddress("0.0.0.0")).toBe("127.0.0.1");
    expect(loopbackDialAddress("::")).toBe("::1");
    expect(loopbackDialAddress("127.0.0.1")).toBe("127.0.0.1");
    expect(loopbackDialAddress("10.1.2.3")).toBeUndefined();
  });
});

describe("debuggerUrl", () => {
  it("keeps the path and dials loopback", () => {
    expect(debuggerUrl(target("ws://127.0.0.1:9229/abc-def"), "127.0.0.1", 9229)).toBe(
      "ws://127.0.0.1:9229/abc-def",
    );
    expect(debuggerUrl(target("ws://0.0.0.0:9229/abc"), "127.0.0.1", 9229)).toBe("ws://127.0.0.1:9229/abc");
    expect(debuggerUrl(target("ws://[::1]:9229/abc"), "::1", 9229)).toBe("ws://[::1]:9229/abc");
  });
  it("refuses a non-loopback host, another port, another scheme", () => {
    expect(() => debuggerUrl(target("ws://10.0.0.9:9229/abc"), "127.0.0.1", 9229)).toThrow(/non-loopback/);
    expect(() => debuggerUrl(target("ws://evil.example:9229/abc"), "127.0.0.1", 9229)).toThrow(
      /non-loopback/,
    );
    expect(() => debuggerUrl(target("ws://127.0.0.1:9300/abc"), "127.0.0.1", 9229)).toThrow(/port/);
    expect(() => debuggerUrl(target("wss://127.0.0.1:9229/abc"), "127.0.0.1", 9229)).toThrow(/scheme/);
  });
});

describe("TargetLocks", () => {
  it("one holder per pid; KH_BUSY for the next; release is idempotent", () => {
    const locks = new TargetLocks();
    const release = locks.acquire(42, "heap-snapshot");
    expect(() => locks.acquire(42, "cpu-profile")).toThrow(AgentError);
    try {
      locks.acquire(42, "cpu-profile");
    } catch (err) {
      expect((err as AgentError).code).toBe("KH_BUSY");
      expect((err as AgentError).message).toContain("heap-snapshot");
    }
    const other = locks.acquire(43, "cpu-profile");
    release();
    release();
    const again = locks.acquire(42, "diagnostic-report");
    again();
    other();
    expect(locks.isHeld(42)).toBe(false);
  });
});
