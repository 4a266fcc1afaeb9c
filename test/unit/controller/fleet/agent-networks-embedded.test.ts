/**
 * Issue 23 attack, informational: with broad allow-lists the controller accepted agent addresses
 * that carry a refused IPv4 address inside IPv6 (NAT64, 6to4, IPv4-compatible, SIIT), the deprecated
 * site-local range and 192.0.0.192; only `::ffff:a.b.c.d` was looked through.
 */
import { describe, expect, it } from "vitest";
import { AgentNetworks, embeddedIpv4 } from "../../../../controller/fleet/agent-networks.js";

describe("issue 23 attack (informational): IPv4 inside IPv6 is looked through", () => {
  const networks = new AgentNetworks([{ environment: "staging", cidrs: ["0.0.0.0/0", "::/0"] }]);

  it.each([
    "64:ff9b::169.254.169.254",
    "64:ff9b:1::a9fe:a9fe",
    "2002:a9fe:a9fe::1",
    "::127.0.0.1",
    "::ffff:0:127.0.0.1",
    "fec0::1",
    "192.0.0.192",
  ])("issue 23 attack (informational): %s is refused under a broad allow-list", (address) => {
    expect(networks.refusal("staging", address, "the agent address")).toMatch(
      /refused unless --agent-networks/,
    );
  });

  it("issue 23 attack (informational): ordinary addresses still pass, and a named range allows its embedded form", () => {
    expect(networks.refusal("staging", "10.0.0.7", "a")).toBeUndefined();
    expect(networks.refusal("staging", "2001:db8::7", "a")).toBeUndefined();
    expect(networks.refusal("staging", "64:ff9b::10.0.0.7", "a")).toBeUndefined();
    const loopback = new AgentNetworks([{ environment: "staging", cidrs: ["127.0.0.0/8", "::/0"] }]);
    expect(loopback.refusal("staging", "::127.0.0.1", "a")).toBeUndefined();
    expect(embeddedIpv4("2002:a9fe:a9fe::1")).toBe("169.254.169.254");
    expect(embeddedIpv4("::1")).toBeUndefined();
    expect(embeddedIpv4("2001:db8::1")).toBeUndefined();
  });
});
