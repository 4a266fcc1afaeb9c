import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadAgentConfig } from "../../../agent/config.js";

const base = { id: "staging/a/a-0", environment: "staging", trustedKeys: "/k/jwks.json" };

describe("agent enrollment settings", () => {
  it("reads labels from repeated flags or KEYHOLE_LABELS, flags first", () => {
    expect(loadAgentConfig({ ...base, label: ["app=payments", "tier=web"] }, {}).labels).toEqual({
      app: "payments",
      tier: "web",
    });
    expect(loadAgentConfig(base, { KEYHOLE_LABELS: "app=orders, empty=" }).labels).toEqual({
      app: "orders",
      empty: "",
    });
    expect(loadAgentConfig({ ...base, label: ["a=1"] }, { KEYHOLE_LABELS: "b=2" }).labels).toEqual({
      a: "1",
    });
    expect(loadAgentConfig(base, {}).labels).toEqual({});
  });

  it("names the flag and variable of a bad label", () => {
    expect(() => loadAgentConfig({ ...base, label: ["app"] }, {})).toThrow(
      /--label \(KEYHOLE_LABELS\).*key=value/,
    );
    expect(() => loadAgentConfig({ ...base, label: ["app=pay ments"] }, {})).toThrow(
      /--label \(KEYHOLE_LABELS\)/,
    );
  });

  it("takes --controller and --enroll-token together or not at all", () => {
    const both = loadAgentConfig({ ...base, controller: "http://c:7400" }, { KEYHOLE_ENROLL_TOKEN: "khe_x" });
    expect(both).toMatchObject({ controller: "http://c:7400", enrollToken: "khe_x" });
    expect(() => loadAgentConfig({ ...base, controller: "http://c:7400" }, {})).toThrow(/go together/);
    expect(() => loadAgentConfig({ ...base, enrollToken: "khe_x" }, {})).toThrow(/go together/);
    expect(() => loadAgentConfig({ ...base, controller: "ftp://c", enrollToken: "t" }, {})).toThrow(
      /--controller \(KEYHOLE_CONTROLLER\): must be an http\(s\) URL/,
    );
  });

  it("reads the token from --enroll-token-file or KEYHOLE_ENROLL_TOKEN_FILE, and says where it came from", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhole-token-"));
    try {
      const file = join(dir, "token");
      writeFileSync(file, "khe_abc_def\n");
      const c = { ...base, controller: "http://c:7400" };
      expect(loadAgentConfig({ ...c, enrollTokenFile: file }, {})).toMatchObject({
        enrollToken: "khe_abc_def",
        enrollTokenFrom: "file",
      });
      expect(loadAgentConfig(c, { KEYHOLE_ENROLL_TOKEN_FILE: file }).enrollTokenFrom).toBe("file");
      expect(loadAgentConfig({ ...c, enrollToken: "khe_x" }, {}).enrollTokenFrom).toBe("flag");
      expect(loadAgentConfig(c, { KEYHOLE_ENROLL_TOKEN: "khe_x" }).enrollTokenFrom).toBe("environment");
      expect(loadAgentConfig(base, {}).enrollTokenFrom).toBeUndefined();
      expect(() => loadAgentConfig({ ...c, enrollTokenFile: file, enrollToken: "khe_x" }, {})).toThrow(
        /exclude each other/,
      );
      expect(() => loadAgentConfig({ ...c, enrollTokenFile: join(dir, "missing") }, {})).toThrow(
        /--enroll-token-file \(KEYHOLE_ENROLL_TOKEN_FILE\): cannot read .*ENOENT/,
      );
      writeFileSync(file, "\n");
      expect(() => loadAgentConfig({ ...c, enrollTokenFile: file }, {})).toThrow(
        /the token alone, on one line/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
