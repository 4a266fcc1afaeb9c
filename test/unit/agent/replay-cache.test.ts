import { describe, expect, it } from "vitest";
import { ReplayCache } from "../../../agent/replay-cache.js";

describe("ReplayCache", () => {
  it("refuses a jti seen before while it is unexpired", () => {
    const cache = new ReplayCache(10);
    expect(cache.remember("a".repeat(16), 1100, 1000)).toBe("ok");
    expect(cache.remember("a".repeat(16), 1100, 1050)).toBe("replay");
  });

  it("refuses new entries when full of unexpired ones instead of forgetting one", () => {
    const cache = new ReplayCache(3, 0);
    for (const jti of ["j1", "j2", "j3"]) expect(cache.remember(jti, 2000, 1000)).toBe("ok");
    expect(cache.remember("j4", 2000, 1000)).toBe("full");
    // The remembered ones are all still refused as replays.
    for (const jti of ["j1", "j2", "j3"]) expect(cache.remember(jti, 2000, 1001)).toBe("replay");
    expect(cache.size).toBe(3);
  });

  it("forgets a jti only after its exp, making room again", () => {
    const cache = new ReplayCache(2, 0);
    expect(cache.remember("short", 1010, 1000)).toBe("ok");
    expect(cache.remember("long", 2000, 1000)).toBe("ok");
    expect(cache.remember("next", 2000, 1009)).toBe("full");
    expect(cache.remember("next", 2000, 1010)).toBe("ok");
    expect(cache.remember("long", 2000, 1011)).toBe("replay");
    expect(cache.size).toBe(2);
  });

  it("sweeps at most once per interval while full, so a flood costs no scan per request", () => {
    const cache = new ReplayCache(1, 60_000);
    expect(cache.remember("a", 1001, 1000)).toBe("ok");
    expect(cache.remember("b", 3000, 1000)).toBe("full"); // sweeps now: nothing expired yet
    expect(cache.remember("b", 3000, 1002)).toBe("full"); // "a" expired, but no sweep for 60 s
    expect(cache.remember("b", 3000, 1061)).toBe("ok");
  });
});
