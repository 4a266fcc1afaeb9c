/** Issue 20: the NATS transport's names (protocol/nats.ts) and the enrollment's transport field. */
import { describe, expect, it } from "vitest";
import { enrollRequestSchema } from "../../../protocol/fleet.js";
import { agentSubject, agentSubjectToken, natsUrlProblem } from "../../../protocol/nats.js";

describe("agent subjects", () => {
  it("are one token per id: '.' written '~', nothing else changed", () => {
    expect(agentSubject("staging/shop/shop-0")).toBe("keyhole.agent.staging/shop/shop-0.requests");
    expect(agentSubject("prod/api.v2:0")).toBe("keyhole.agent.prod/api~v2:0.requests");
    // One to one: ids that differ only where '.' was cannot meet, since no id holds '~'.
    expect(agentSubjectToken("a.b")).not.toBe(agentSubjectToken("a-b"));
  });

  it("refuse anything that is not an agent id: no wildcard, no space, no second token", () => {
    for (const bad of ["*", ">", "a b", "a*", "x>", "", "~a", ".a", "a\tb", "a".repeat(254)])
      expect(() => agentSubject(bad), JSON.stringify(bad)).toThrow(/not an agent id/);
  });
});

describe("NATS URLs", () => {
  it("take nats:// and tls:// host:port only, never credentials", () => {
    expect(natsUrlProblem("nats://127.0.0.1:4222")).toBeUndefined();
    expect(natsUrlProblem("tls://nats.internal:4222")).toBeUndefined();
    expect(natsUrlProblem("http://127.0.0.1:4222")).toMatch(/nats:\/\/ or tls:\/\//);
    expect(natsUrlProblem("nats://user:pw@127.0.0.1:4222")).toMatch(/no user or password/);
    expect(natsUrlProblem("nats://127.0.0.1:4222/x")).toMatch(/HOST:PORT only/);
    expect(natsUrlProblem("not a url")).toMatch(/nats:\/\/HOST:PORT/);
  });
});

/** A well-formed key and proof: the schema checks their shape, the registry their signature. */
const KEY = { publicKey: "A".repeat(43), proof: { iat: 0, signature: "A".repeat(86) } };

describe("enrollment transport", () => {
  it("an agent on NATS says so and gives no url or port; an HTTP one gives either", () => {
    expect(
      enrollRequestSchema.parse({ ...KEY, id: "s/a", environment: "staging", transport: "nats" }).transport,
    ).toBe("nats");
    expect(
      enrollRequestSchema.parse({ ...KEY, id: "s/a", environment: "staging", port: 7070 }).transport,
    ).toBeUndefined();
    expect(
      enrollRequestSchema.safeParse({
        ...KEY,
        id: "s/a",
        environment: "staging",
        transport: "nats",
        port: 7070,
      }).success,
    ).toBe(false);
    expect(
      enrollRequestSchema.safeParse({
        id: "s/a",
        environment: "staging",
        transport: "nats",
        url: "http://10.0.0.1:1",
      }).success,
    ).toBe(false);
    expect(enrollRequestSchema.safeParse({ ...KEY, id: "s/a", environment: "staging" }).success).toBe(false);
    expect(
      enrollRequestSchema.safeParse({
        ...KEY,
        id: "s/a",
        environment: "staging",
        transport: "tunnel",
        port: 1,
      }).success,
    ).toBe(false);
  });
});
