/** Issue 20: `keyhole agent --connect` (the NATS transport) in the agent's configuration. */
import { describe, expect, it } from "vitest";
import { loadAgentConfig } from "../../../agent/config.js";

const required = { id: "staging/shop/shop-0", environment: "staging", trustedKeys: "/keys.json" };

describe("agent config: --connect", () => {
  it("reads --connect and --nats-creds from flags or KEYHOLE_CONNECT / KEYHOLE_NATS_CREDS", () => {
    const flags = loadAgentConfig(
      { ...required, connect: "nats://10.0.0.1:4222", natsCreds: "/s/agent.nkey" },
      {},
    );
    expect(flags).toMatchObject({ connect: "nats://10.0.0.1:4222", natsCreds: "/s/agent.nkey" });
    const env = loadAgentConfig(required, { KEYHOLE_CONNECT: "nats://n:4222", KEYHOLE_NATS_CREDS: "/c" });
    expect(env).toMatchObject({ connect: "nats://n:4222", natsCreds: "/c" });
  });

  it("refuses what an agent that opens no port cannot have, every problem listed", () => {
    const fail = (options: Record<string, string>, env: Record<string, string> = {}) => {
      try {
        loadAgentConfig({ ...required, ...options }, env);
      } catch (err) {
        return (err as Error).message;
      }
      throw new Error("accepted");
    };
    const both = fail({ connect: "nats://n:4222", listen: "0.0.0.0:7070", advertiseUrl: "http://x:1" });
    expect(both).toMatch(/--listen \(KEYHOLE_LISTEN\) and --connect exclude each other/);
    expect(both).toMatch(/--advertise-url \(KEYHOLE_ADVERTISE_URL\) and --connect exclude each other/);
    expect(fail({ connect: "nats://n:4222" }, { KEYHOLE_LISTEN: "0.0.0.0:7070" })).toMatch(
      /exclude each other/,
    );
    expect(fail({ connect: "nats://u:p@n:4222" })).toMatch(
      /--connect \(KEYHOLE_CONNECT\): must carry no user or password/,
    );
    expect(fail({ connect: "http://n:4222" })).toMatch(/--connect.*nats:\/\/ or tls:\/\//);
    expect(fail({ natsCreds: "/c" })).toMatch(/--nats-creds \(KEYHOLE_NATS_CREDS\) needs --connect/);
    expect(fail({ connect: "nats://n:4222", id: "has space" })).toMatch(/--id \(KEYHOLE_ID\).*NATS subject/);
  });
});
