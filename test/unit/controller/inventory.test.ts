import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../controller/errors.js";
import { loadInventory, parseInventory } from "../../../controller/inventory/load-inventory.js";
import { loadPolicy } from "../../../controller/policy/load-policy.js";

const policy = await loadPolicy(undefined); // production and staging

function problemsOf(text: string): readonly string[] {
  try {
    parseInventory(text, "inventory.yaml", policy);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected the inventory to be refused");
}

describe("inventory", () => {
  it("reads the SPEC's entry form", () => {
    const inventory = parseInventory(
      "- { id: prod/payments/payments-0, environment: production, url: http://10.0.0.7:7070, labels: { app: payments } }\n" +
        "- id: staging/payments/payments-0\n  environment: staging\n  url: https://payments.staging.internal:7070\n",
      "inventory.yaml",
      policy,
    );
    expect([...inventory.agents.keys()]).toEqual(["prod/payments/payments-0", "staging/payments/payments-0"]);
    expect(inventory.agents.get("prod/payments/payments-0")).toEqual({
      id: "prod/payments/payments-0",
      environment: "production",
      url: "http://10.0.0.7:7070",
      transport: "http",
      labels: { app: "payments" },
    });
    expect(inventory.agents.get("staging/payments/payments-0")?.labels).toEqual({});
  });

  it("an agent on NATS has transport: nats and no url; every other agent has a url (issue 20)", () => {
    const inventory = parseInventory(
      "- { id: prod/payments/payments-1, environment: production, transport: nats }\n",
      "inventory.yaml",
      policy,
    );
    expect(inventory.agents.get("prod/payments/payments-1")).toEqual({
      id: "prod/payments/payments-1",
      environment: "production",
      transport: "nats",
      labels: {},
    });
    const problems = (text: string) => {
      try {
        parseInventory(text, "inventory.yaml", policy);
      } catch (err) {
        return (err as ConfigError).problems.join("\n");
      }
      return "";
    };
    expect(
      problems("- { id: a, environment: production, transport: nats, url: http://10.0.0.7:7070 }\n"),
    ).toMatch(/inventory.yaml:1:\d+.*transport: nats has no url/);
    expect(problems("- { id: a, environment: production }\n")).toMatch(/needs a url, or "transport: nats"/);
    expect(problems("- { id: a, environment: production, transport: tunnel }\n")).toMatch(
      /must be "http" or "nats"/,
    );
  });

  it("an empty file is an empty inventory", () => {
    expect(parseInventory("", "inventory.yaml", policy).agents.size).toBe(0);
    expect(parseInventory("# nothing yet\n", "inventory.yaml", policy).agents.size).toBe(0);
  });

  it("lists every problem with its position: unknown environment, duplicate id, bad url, unknown key", () => {
    expect(
      problemsOf(`- { id: a-0, environment: production, url: http://10.0.0.7:7070 }
- { id: b-0, environment: qa, url: http://10.0.0.8:7070 }
- { id: a-0, environment: staging, url: http://10.0.0.9:7070 }
- { id: c-0, environment: staging, url: "ftp://x", port: 7 }
`),
    ).toEqual([
      "inventory.yaml:4:41 [3].url: must be an http(s) URL",
      'inventory.yaml:4:52 [3].port: unknown key "port"',
      'inventory.yaml:2:27 [1].environment: environment "qa" is not in the policy',
      'inventory.yaml:3:9 [2].id: duplicate agent id "a-0"',
    ]);
  });

  it("refuses a mapping where a list is expected", () => {
    expect(problemsOf("agents: []\n")).toEqual([
      "inventory.yaml:1:1 (root): Invalid input: expected array, received object",
    ]);
  });

  it("loads from a file, and no file means no agents", async () => {
    const dir = await mkdtemp(join(tmpdir(), "keyhole-inv-"));
    try {
      const file = join(dir, "inventory.yaml");
      await writeFile(file, "- { id: a-0, environment: staging, url: http://127.0.0.1:1 }\n");
      expect((await loadInventory(file, policy)).agents.size).toBe(1);
      expect((await loadInventory(undefined, policy)).agents.size).toBe(0);
      await expect(loadInventory(join(dir, "missing.yaml"), policy)).rejects.toThrow(/cannot read inventory/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
