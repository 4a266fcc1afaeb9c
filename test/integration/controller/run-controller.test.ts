import { readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../../controller/errors.js";
import { issueToken } from "../../../controller/identity/cli.js";
import { type RunningController, runController } from "../../../controller/main.js";
import { tempDir } from "./helpers.js";

describe("runController", () => {
  let dir: string;
  let running: RunningController | undefined;
  afterEach(async () => {
    await running?.close();
    running = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("listens on embedded defaults, logs one listening line, and never logs a token", async () => {
    dir = await tempDir();
    const lines: string[] = [];
    const dataDir = join(dir, "data");
    running = await runController(
      { dataDir, listen: "127.0.0.1:0" },
      { KEYHOLE_LOG_LEVEL: "debug" },
      { logDestination: { write: (s: string) => void lines.push(s) } },
    );
    const listening = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "listening");
    expect(listening.url).toBe(running.url);
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    // One generated key per environment of the embedded default policy, pinned files on disk.
    expect(running.keys.map((k) => k.environment).sort()).toEqual(["production", "staging"]);
    for (const key of running.keys) {
      expect(key.jwksPath).toBe(join(dataDir, "keys", key.environment, "jwks.json"));
      expect(key.kid.startsWith(`${key.environment}-`)).toBe(true);
      const mode = (await stat(join(dataDir, "keys", key.environment, "signing-key.pem"))).mode & 0o777;
      expect(mode).toBe(0o600);
    }

    const { token } = await issueToken({ dataDir, subject: "user:alice@example.com", groups: ["sre"] });
    const health = await fetch(`${running.url}/healthz`);
    expect(await health.json()).toEqual({ status: "ok" });
    const who = await fetch(`${running.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
    expect(await who.json()).toEqual({ subject: "user:alice@example.com", groups: ["sre"] });
    const bad = await fetch(`${running.url}/v1/whoami`, { headers: { authorization: `Bearer ${token}0` } });
    expect(bad.status).toBe(401);
    await running.close();
    running = undefined;

    const log = lines.join("");
    expect(log).toContain("/v1/whoami");
    // The secret is base64url and may itself contain "_": take everything after the id.
    const secret = token.slice("kh_".length + 16 + 1);
    expect(secret).toHaveLength(43);
    expect(log).not.toContain(secret);
  });

  it("refuses to start on bad config, listing every problem, before listening", async () => {
    dir = await tempDir();
    const policy = join(dir, "policy.yaml");
    await writeFile(
      policy,
      "environments:\n  production: { approvals: -1 }\nroles: {}\nbindings:\n  - { subjects: [group:sre], role: sre, environments: [prod] }\n",
    );
    const attempt = runController({ dataDir: dir, policy, listen: "127.0.0.1:0" }, {});
    await expect(attempt).rejects.toBeInstanceOf(ConfigError);
    const err = (await attempt.catch((e: unknown) => e)) as ConfigError;
    expect(err.problems).toEqual([
      expect.stringMatching(/policy\.yaml:2:28 environments\.production\.approvals: .*>=0/),
      `${policy}:5:36 bindings[0].role: unknown role "sre"`,
      `${policy}:5:56 bindings[0].environments[0]: unknown environment "prod"`,
    ]);

    await expect(runController({ dataDir: dir, database: "postgres:///keyhole" }, {})).rejects.toThrow(
      ConfigError,
    );
    await expect(runController({ dataDir: dir, signingKey: ["qa=/nope.pem"] }, {})).rejects.toThrow(
      /no environment "qa" in the policy/,
    );
    // Nothing was written for the refused starts but the data dir's keys of the attempt with a valid policy.
    await expect(readFile(join(dir, "keyhole.db"))).rejects.toThrow();
  });
});
