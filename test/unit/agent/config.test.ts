import { describe, expect, it } from "vitest";
import { loadAgentConfig } from "../../../agent/config.js";

const required = { id: "staging/shop/shop-0", environment: "staging", trustedKeys: "/etc/keyhole/jwks.json" };

describe("loadAgentConfig", () => {
  it("applies defaults with their units and freezes the result", () => {
    const config = loadAgentConfig(required, {});
    expect(config.listen).toEqual({ host: "0.0.0.0", port: 7070 });
    expect(config.maxTtlSeconds).toBe(300);
    expect(config.replayCacheSize).toBe(50_000);
    expect(config.logRoots).toEqual([]);
    expect(config.actions).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("reads every flag from KEYHOLE_* variables, and flags win over them", () => {
    const env = {
      KEYHOLE_ID: "prod/a",
      KEYHOLE_ENVIRONMENT: "production",
      KEYHOLE_TRUSTED_KEYS: "/k.json",
      KEYHOLE_LISTEN: "[::1]:8080",
      KEYHOLE_TARGET: "node",
      KEYHOLE_LOG_ROOT: "/var/log/app,/srv/logs",
      KEYHOLE_ACTIONS: "env, process-info",
      KEYHOLE_MAX_TTL_SECONDS: "120",
      KEYHOLE_REPLAY_CACHE_SIZE: "1000",
      KEYHOLE_FINGERPRINT_KEY_FILE: "/run/secrets/fp",
    };
    const fromEnv = loadAgentConfig({}, env);
    expect(fromEnv).toMatchObject({
      id: "prod/a",
      environment: "production",
      listen: { host: "::1", port: 8080 },
      target: "node",
      logRoots: ["/var/log/app", "/srv/logs"],
      actions: ["env", "process-info"],
      maxTtlSeconds: 120,
      replayCacheSize: 1000,
      fingerprintKeyFile: "/run/secrets/fp",
    });
    const flags = loadAgentConfig({ id: "prod/b", logRoot: ["/only"], listen: "127.0.0.1:0" }, env);
    expect(flags.id).toBe("prod/b");
    expect(flags.logRoots).toEqual(["/only"]);
    expect(flags.listen).toEqual({ host: "127.0.0.1", port: 0 });
  });

  it("lists every problem at once, naming flag and variable", () => {
    let message = "";
    try {
      loadAgentConfig({ listen: "nowhere", maxTtlSeconds: "ten" }, {});
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("--id (KEYHOLE_ID)");
    expect(message).toContain("--environment (KEYHOLE_ENVIRONMENT)");
    expect(message).toContain("--trusted-keys (KEYHOLE_TRUSTED_KEYS)");
    expect(message).toContain("--listen (KEYHOLE_LISTEN): must be HOST:PORT");
    expect(message).toContain("--max-ttl-seconds (KEYHOLE_MAX_TTL_SECONDS)");
  });

  it("refuses a port out of range", () => {
    expect(() => loadAgentConfig({ ...required, listen: "0.0.0.0:70000" }, {})).toThrow(/at most 65535/);
  });
});
