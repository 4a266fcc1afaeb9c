/**
 * Issue 21: which configurations make the controller warn at start that it dispatches in clear text
 * beyond loopback (controller/dispatch/clear-text.ts). The warning through a real controller's log
 * is in test/integration/controller/issue-21-tls.test.ts.
 */
import { describe, expect, it } from "vitest";
import { clearTextDispatchWarning } from "../../../../controller/dispatch/clear-text.js";

const agent = (id: string, url: string) => ({ id, url });

describe("clearTextDispatchWarning", () => {
  it("names inventory agents at http beyond loopback, never https or loopback ones", () => {
    const warning = clearTextDispatchWarning(
      [
        agent("a", "http://10.0.0.7:7070"),
        agent("b", "http://payments-0.payments.prod.svc.cluster.local:7070"),
        agent("c", "https://10.0.0.8:7070"),
        agent("d", "http://127.0.0.1:7070"),
        agent("e", "http://[::1]:7070"),
        agent("f", "http://localhost:7070"),
      ],
      [],
      false,
    );
    expect(warning?.inventoryAgents).toEqual(["a", "b"]);
    expect(warning?.enrollmentEnvironments).toEqual([]);
    expect(warning?.message).toMatch(/2 inventory agent\(s\) at plain http:\/\/ URLs beyond loopback/);
  });

  it("names environments whose --agent-networks reach beyond loopback, unless --agent-ca requires TLS", () => {
    const networks = [
      { environment: "dev", cidrs: ["127.0.0.0/8", "::1/128"] },
      { environment: "staging", cidrs: ["127.0.0.0/8", "10.12.0.0/14"] },
      // Wider than loopback although it starts at a loopback address.
      { environment: "odd", cidrs: ["127.0.0.0/7"] },
    ];
    expect(clearTextDispatchWarning([], networks, false)?.enrollmentEnvironments).toEqual(["staging", "odd"]);
    expect(clearTextDispatchWarning([], networks, true)).toBeUndefined();
  });

  it("is silent for loopback only", () => {
    expect(
      clearTextDispatchWarning(
        [agent("d", "http://127.0.0.1:7070")],
        [{ environment: "dev", cidrs: ["127.0.0.1/32"] }],
        false,
      ),
    ).toBeUndefined();
  });
});
