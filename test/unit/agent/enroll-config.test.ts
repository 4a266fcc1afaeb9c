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
});
