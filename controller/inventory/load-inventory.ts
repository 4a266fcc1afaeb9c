/**
 * The agents the controller can reach (SPEC section 5), until agents enroll themselves. Validated like
 * the policy, with `file:line:col` on every problem; each agent's environment must be in the policy.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { publicKeySchema } from "../../protocol/answer.js";
import { ConfigError } from "../errors.js";
import type { PinnedLookup } from "../fleet/agent-networks.js";
import type { Policy } from "../policy/load-policy.js";
import { YamlSource } from "../yaml-source.js";

const agentEntrySchema = z.strictObject({
  /** The agent's `--id`, sent as the envelope's `aud`. */
  id: z
    .string()
    .max(253)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._/:-]*$/, "must be an agent id (A-Z, a-z, 0-9, ._/:-)"),
  environment: z.string().min(1),
  /** Where an HTTP agent listens; an agent on NATS (`transport: nats`) has none (docs/transport.md). */
  url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  transport: z.enum(["http", "nats"], { error: 'must be "http" or "nats"' }).default("http"),
  labels: z.record(z.string(), z.string()).default({}),
  /**
   * The agent's Ed25519 public key (base64url of its 32 bytes, as its start-up log prints it): pinned
   * ahead, so its answers are verified against it (issue 21). Without it the answers are checked
   * against the key they name, which proves them whole but not whose.
   */
  publicKey: publicKeySchema.optional(),
});

/**
 * One agent the request path can address. Enrolled agents (controller/fleet/registry.ts) also carry
 * the `lookup` that dials them only at addresses `--agent-networks` allows.
 */
export type InventoryAgent = Readonly<z.output<typeof agentEntrySchema>> & {
  readonly lookup?: PinnedLookup;
  readonly enrolled?: true;
};

/**
 * What stands for an agent on NATS where a URL column is kept (an enrolled agent's row, a
 * collection's targets): it has no URL, and `nats:` is no http(s) URL, so the two cannot be confused.
 */
export const NATS_AGENT_URL = "nats:";

/** The URL column's value for `agent`: its URL, or NATS_AGENT_URL. */
export function storedUrl(agent: {
  readonly url?: string | undefined;
  readonly transport: "http" | "nats";
}): string {
  return agent.transport === "nats" ? NATS_AGENT_URL : (agent.url ?? "");
}

export interface Inventory {
  readonly source: string;
  readonly agents: ReadonlyMap<string, InventoryAgent>;
}

// An empty file parses to null: an inventory with no agents.
const inventoryFileSchema = z.preprocess((v) => v ?? [], z.array(agentEntrySchema));

/** Parses inventory YAML; throws a ConfigError naming every problem with its position. */
export function parseInventory(text: string, file: string, policy: Policy): Inventory {
  const source = new YamlSource(text, file);
  const parsed = source.check(inventoryFileSchema);
  const agents = new Map<string, InventoryAgent>();
  const raw: unknown[] = Array.isArray(source.data) ? source.data : [];
  for (const [i, entry] of raw.entries()) {
    if (entry === null || typeof entry !== "object") continue;
    const { id, environment } = entry as Record<string, unknown>;
    if (typeof environment === "string" && !policy.environments.has(environment)) {
      source.problem([i, "environment"], `environment "${environment}" is not in the policy`);
    }
    const { url, transport } = entry as Record<string, unknown>;
    if (transport === "nats" && url !== undefined)
      source.problem([i, "url"], "an agent with transport: nats has no url (it dials out to NATS)");
    if (transport !== "nats" && url === undefined)
      source.problem([i], 'an agent needs a url, or "transport: nats"');
    if (typeof id === "string") {
      if (agents.has(id)) source.problem([i, "id"], `duplicate agent id "${id}"`);
      const agent = parsed?.[i];
      agents.set(id, agent ? Object.freeze(agent) : (entry as InventoryAgent));
    }
  }
  if (source.problems.length > 0 || !parsed)
    throw new ConfigError(`invalid inventory ${file}`, source.problems);
  return Object.freeze({ source: file, agents });
}

/** Loads the inventory file; no file means no agents. */
export async function loadInventory(path: string | undefined, policy: Policy): Promise<Inventory> {
  if (path === undefined) return Object.freeze({ source: "(none)", agents: new Map() });
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read inventory ${path}`, [(err as Error).message], { cause: err });
  }
  return parseInventory(text, path, policy);
}
