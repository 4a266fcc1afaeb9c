import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEnviron, readEnviron } from "../../../../agent/proc/environ.js";
import { FAKE_API_KEY, FAKE_DATABASE_URL, startWorkload, type Workload } from "./workload-child.js";

describe("readEnviron on a real child", () => {
  let workload: Workload;
  beforeAll(async () => {
    workload = await startWorkload();
  });
  afterAll(async () => {
    await workload.stop();
  });

  it("returns the variables the process was started with, in order, values raw", () => {
    const env = readEnviron(workload.pid);
    expect(env.map(([name]) => name)).toEqual(["PATH", "NODE_ENV", "PORT", "DEMO_API_KEY", "DATABASE_URL"]);
    expect(Object.fromEntries(env)).toMatchObject({
      NODE_ENV: "production",
      DEMO_API_KEY: FAKE_API_KEY,
      DATABASE_URL: FAKE_DATABASE_URL,
    });
  });
});

describe("parseEnviron", () => {
  it("splits at the first '=', keeps bare entries with an empty value and keeps order", () => {
    const buffer = Buffer.from("B=2\0A=x=y\0BARE\0EMPTY=\0");
    expect(parseEnviron(buffer)).toEqual([
      ["B", "2"],
      ["A", "x=y"],
      ["BARE", ""],
      ["EMPTY", ""],
    ]);
  });

  it("returns nothing for an empty environ (a zombie, a kernel thread)", () => {
    expect(parseEnviron(Buffer.alloc(0))).toEqual([]);
  });
});
