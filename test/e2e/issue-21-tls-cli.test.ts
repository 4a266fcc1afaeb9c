/**
 * Issue 21, TLS with the real executable: `keyhole agent` configured by KEYHOLE_TLS_* variables (as
 * in a container) serves HTTPS with mutual TLS, `keyhole controller --tls-cert … --agent-ca …
 * --client-cert …` serves its API over HTTPS and dispatches over mutual TLS, and the `keyhole` CLI
 * reaches that API only when it trusts the private CA (KEYHOLE_CA, or Node's NODE_EXTRA_CA_CERTS).
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { Stack } from "../helpers/stack.js";
import { issueCert, makeCa, type Pem } from "../helpers/tls-certs.js";

const POLICY = `environments:
  staging: { approvals: 0, maxTtlSeconds: 60 }
roles:
  sre: { actions: ["*"] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
`;

const stack = new Stack("tls-cli");
let ca: Pem;

beforeAll(async () => {
  ca = makeCa(stack.dir, "private");
  const agent = issueCert(stack.dir, ca, "agent", ["127.0.0.1"]);
  const api = issueCert(stack.dir, ca, "api", ["127.0.0.1", "localhost"]);
  const client = issueCert(stack.dir, ca, "controller-client", ["keyhole-controller"]);
  await stack.start({
    workload: {},
    agents: [
      {
        id: "staging/tls/app-0",
        environment: "staging",
        env: { KEYHOLE_TLS_CERT: agent.cert, KEYHOLE_TLS_KEY: agent.key, KEYHOLE_CLIENT_CA: ca.cert },
      },
    ],
    policy: POLICY,
    tokens: { ops: { subject: "user:ops@example.com", groups: ["sre"] } },
    controller: {
      flags: [
        "--tls-cert",
        api.cert,
        "--tls-key",
        api.key,
        "--agent-ca",
        ca.cert,
        "--client-cert",
        client.cert,
        "--client-key",
        client.key,
      ],
    },
  });
}, 120_000);

afterAll(async () => {
  expect(await stack.stop()).toEqual([0, 0, 0]);
});

const run = [
  "run",
  "process-info",
  "--target",
  "staging/tls/app-0",
  "--reason",
  "issue 21",
  "--wait",
  "--json",
];

it("both services listen on https", () => {
  expect(stack.agent("staging/tls/app-0").url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  expect(stack.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
});

it("the CLI refuses a controller certificate of an unknown CA, and says how to trust it", async () => {
  const result = await stack.keyhole(run, stack.as("ops"));
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/cannot reach the controller at https:.*KEYHOLE_CA=FILE/);
});

it("with KEYHOLE_CA the CLI reaches the controller, which dispatches over mutual TLS", async () => {
  const result = await stack.keyhole(run, { ...stack.as("ops"), KEYHOLE_CA: ca.cert });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const { request } = JSON.parse(result.stdout);
  expect(request.status).toBe("completed");
  expect(request.result.result.pid).toBe(stack.workload!.pid);
});

it("NODE_EXTRA_CA_CERTS works too; a KEYHOLE_CA that cannot be read is a usage error", async () => {
  const extra = await stack.keyhole(["requests", "--json"], {
    ...stack.as("ops"),
    NODE_EXTRA_CA_CERTS: ca.cert,
  });
  expect(extra.code).toBe(0);
  const missing = await stack.keyhole(["requests"], {
    ...stack.as("ops"),
    KEYHOLE_CA: stack.path("nope.pem"),
  });
  expect([missing.code, missing.stderr]).toEqual([
    2,
    expect.stringMatching(/KEYHOLE_CA: cannot read .*nope\.pem \(ENOENT\)/),
  ]);
});
