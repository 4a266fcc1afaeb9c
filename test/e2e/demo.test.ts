/** `npm run demo` is the first thing a newcomer runs: it must work offline and leave nothing running. */
import { existsSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { runKeyhole } from "../../cli/demo/processes.js";
import { hasJava } from "../helpers/jvm-target.js";

let dir: string | undefined;
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("keyhole demo runs the tour end to end, masks the secret, stops everything and exits 0", async () => {
  dir = await mkdtemp(join(tmpdir(), "keyhole-demo-test-"));
  const result = await runKeyhole(["demo", "--data-dir", dir], { PATH: process.env.PATH }, 90_000);
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
  const out = result.stdout;
  expect(out).toContain("process facts from staging");
  expect(out).toMatch(/DEMO_API_KEY=⟦masked:/);
  expect(out).toContain("KH_SELF_APPROVAL");
  // The workload's own log holds the database password in clear; the tail the demo shows does not.
  const leaked = /postgres:\/\/shop:([^@]+)@db\.internal/.exec(
    readFileSync(join(dir, "logs", "app", "shop.log"), "utf8"),
  );
  expect(leaked?.[1]).toMatch(/^pw-[0-9a-f]{12}$/);
  expect(out).toMatch(/postgres:\/\/shop:⟦masked:[^⟧]+⟧@db\.internal:5432\/shop/);
  expect(out).not.toContain(leaked![1]!);
  // The heap snapshot came back as a digest-checked artifact without the workload's secrets in it.
  expect(out).toMatch(/sha256 [0-9a-f]{64} verified/);
  const heap = readFileSync(join(dir, "shop-0.heapsnapshot"), "utf8");
  expect(JSON.parse(heap).snapshot.node_count).toBeGreaterThan(1000);
  expect(heap).toContain("db.internal");
  expect(heap).not.toContain(leaked![1]!);
  // With a JDK on the machine the tour reads a JVM's threads and VM facts; without, it says it skipped.
  if (hasJava) {
    expect(out).toMatch(/thread-dump on staging\/jvm\/jvm-0/);
    expect(out).toContain("order-worker-0");
    expect(out).toMatch(/"name":"java\.vm\.name"/);
  } else {
    expect(out).toContain("jvm        skipped: no java on PATH");
  }
  expect(out).toContain("where the data lives");
  expect(out).toContain(join(dir, "keyhole.db"));
  expect(existsSync(join(dir, "keyhole.db"))).toBe(true);
  // Every process the demo started is gone.
  const pids = [...out.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
  expect(pids.length).toBeGreaterThan(0);
  for (const pid of pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
}, 120_000);
