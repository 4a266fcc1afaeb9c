/**
 * The controller's database or artifact store unavailable, with real parts:
 *
 * - the SQLite database locked by another process (as a backup or a stuck migration would) past
 *   the busy timeout: a new request is refused with a coded 503 KH_STORE_UNAVAILABLE and nothing of
 *   it is recorded; an agent's answer that arrives meanwhile is held and written once the database
 *   is back (retried, never dropped); afterwards everything works and the audit chain is intact;
 * - the S3 artifact store gone: a download answers 503 KH_ARTIFACT_UNAVAILABLE, the artifact's
 *   record stays, and the same bytes download once the store is back.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findBrokenLink } from "../../controller/audit/chain.js";
import { startS3, type TestS3 } from "../helpers/s3rver.js";
import { FAKE_AGENT, sha256, startArtifactHarness, testBytes } from "../integration/artifacts/harness.js";
import { type Harness, startHarness } from "../integration/controller/helpers.js";

/**
 * Another process holds the database's write lock until `release()` (at most a minute, and never
 * past the test's own process: it lets go when its stdin closes); resolves once it holds it.
 */
async function lockDatabase(path: string): Promise<{ release: () => Promise<void> }> {
  const script = `const { DatabaseSync } = require("node:sqlite");
const db = new DatabaseSync(${JSON.stringify(path)});
db.exec("BEGIN EXCLUSIVE");
console.log("locked");
const release = () => { db.exec("ROLLBACK"); db.close(); console.log("released"); process.exit(0); };
process.stdin.once("data", release).once("end", release).resume();
setTimeout(release, 60000).unref();`;
  const child = spawn(process.execPath, ["--input-type=commonjs", "-e", script], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    lines.once("line", (line) => (line === "locked" ? resolve() : reject(new Error(line))));
    child.once("exit", (code) => reject(new Error(`the locker exited with ${code}`)));
  });
  return {
    release: async () => {
      child.stdin!.end("release\n");
      await exited;
    },
  };
}

describe("the database unavailable", () => {
  let h: Harness;
  let alice: string;
  beforeAll(async () => {
    // The fault is SQLite's own write lock; the PostgreSQL outage is postgres-outage.test.ts.
    h = await startHarness({ store: "sqlite" });
    alice = await h.token("user:alice@example.com", ["sre"]);
  });
  afterAll(async () => {
    await h?.close();
  });

  it("refuses new requests with KH_STORE_UNAVAILABLE, recording nothing, keeps an agent's late answer, and recovers", async () => {
    const agent = h.agents.staging!;
    const answer = agent.respond;
    agent.respond = async (claims) => {
      await new Promise((r) => setTimeout(r, 300));
      return answer(claims);
    };
    const body = { action: "process-info", target: "staging/shop/shop-0", reason: "db fault" };
    const first = await h.call(alice, "POST", "/v1/requests", body);
    expect(first.status).toBe(201);
    const auditBefore = await h.controller.store.listAudit({ limit: 100_000 });

    // Locked past the 5 s busy timeout (held until the refusal is in, however slow the machine),
    // while the first request's answer is on its way.
    const lock = await lockDatabase(
      h.controller.config.database.kind === "sqlite" ? h.controller.config.database.path : "",
    );
    let refused: Awaited<ReturnType<Harness["call"]>>;
    try {
      refused = await h.call(alice, "POST", "/v1/requests", { ...body, reason: "during the outage" });
    } finally {
      await lock.release();
    }
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe("KH_STORE_UNAVAILABLE");

    // The answer is written once the lock is gone, not dropped.
    await h.controller.dispatcher.whenIdle();
    const view = await h.call(alice, "GET", `/v1/requests/${first.json.request.id}`);
    expect(view.json.request.status).toBe("completed");

    const requests = (await h.controller.store.listRequests({ limit: 100 })).map((r) => r.record);
    expect(requests.map((r) => r.reason)).not.toContain("during the outage");
    const audit = await h.controller.store.listAudit({ limit: 100_000 });
    expect(findBrokenLink(audit)).toBeUndefined();
    expect(audit.slice(0, auditBefore.length)).toEqual(auditBefore);
    expect(audit.filter((r) => r.reason === "during the outage")).toEqual([]);

    const after = await h.call(alice, "POST", "/v1/requests", { ...body, reason: "after the outage" });
    expect(after.status).toBe(201);
    agent.respond = answer;
  });
});

describe("the artifact store unavailable", () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    s3?.comeBack();
    await s3?.close();
  });

  it("a download answers 503 KH_ARTIFACT_UNAVAILABLE while S3 is gone; the record stays and the bytes come back intact", async () => {
    const h = await startArtifactHarness({ s3 });
    try {
      const bytes = testBytes(256 * 1024, 5);
      h.fake = { body: bytes };
      const request = await h.run("bytes", { size: 1 }, "stream", FAKE_AGENT);
      expect(request.status, JSON.stringify(request.error)).toBe("completed");
      s3.goAway();
      const gone = await h.call("GET", `/v1/artifacts/${request.artifactId}/content`);
      expect(gone.status).toBe(503);
      expect(gone.json.error.code).toBe("KH_ARTIFACT_UNAVAILABLE");
      const record = await h.call("GET", `/v1/artifacts/${request.artifactId}`);
      expect(record.status).toBe(200);
      expect(record.json.artifact.sha256).toBe(sha256(bytes));
      s3.comeBack();
      const back = await h.call("GET", `/v1/artifacts/${request.artifactId}/content`);
      expect(back.status).toBe(200);
      expect(sha256(back.raw)).toBe(sha256(bytes));
    } finally {
      s3.comeBack();
      await h.close();
    }
  });
});
