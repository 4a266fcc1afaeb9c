/**
 * The fleet: agents from the inventory file ("static") and agents that enrolled themselves, as one
 * directory. Enrolled agents are kept in memory (loaded at start, refreshed every heartbeat interval
 * so replicas sharing a database converge) and their heartbeats are written in one batch per
 * interval: a heartbeat is a liveness fact, not an audited decision, so it need not cost a commit.
 *
 * An enrolled agent is `online` while its last heartbeat is at most `offlineAfterSeconds` old,
 * `offline` after that, and `revoked` once its enrollment token is revoked or expired; a revoked agent
 * is no target at all, not even by id.
 */

import { verify as verifySignature } from "node:crypto";
import type { FastifyBaseLogger } from "fastify";
import { publicKeyObject } from "../../protocol/answer.js";
import {
  agentUrlShapeProblem,
  ENROLL_PROOF_MAX_AGE_SECONDS,
  type EnrollRequest,
  enrollProofInput,
} from "../../protocol/fleet.js";
import type { AuditEntry } from "../audit/chain.js";
import { ControllerError } from "../errors.js";
import { enrollTokenNotOnChain } from "../identity/credential-chain.js";
import { type Inventory, type InventoryAgent, NATS_AGENT_URL } from "../inventory/load-inventory.js";
import type { Policy } from "../policy/load-policy.js";
import type { EnrolledAgentRecord, EnrollTokenRecord } from "../store/fleet-types.js";
import type { Store } from "../store/types.js";
import { AgentNetworks } from "./agent-networks.js";
import { mintSession, sessionMatches, verifyEnrollToken } from "./credentials.js";
import { type Selector, selectorMatches } from "./selector.js";

export type AgentState = "static" | "online" | "offline" | "revoked";

/** One agent as `keyhole agents` shows it. Times are epoch milliseconds. */
export interface FleetAgent {
  readonly id: string;
  readonly environment: string;
  /** Where an HTTP agent listens; none for an agent on NATS. */
  readonly url?: string | undefined;
  readonly transport: "http" | "nats";
  readonly labels: Readonly<Record<string, string>>;
  readonly source: "static" | "enrolled";
  readonly state: AgentState;
  readonly actions?: readonly string[];
  readonly enrolledAt?: number;
  readonly lastSeenAt?: number;
  /** Its pinned public key (base64url): from enrollment, or the inventory's `publicKey`. */
  readonly publicKey?: string;
}

export interface FleetRegistryDeps {
  readonly store: Store;
  readonly policy: Policy;
  readonly inventory: Inventory;
  readonly heartbeatSeconds: number;
  readonly offlineAfterSeconds: number;
  readonly controllerId: string;
  readonly log: FastifyBaseLogger;
  readonly now: () => number;
  /** `--agent-networks`: where enrolled agents of each environment may be (none: no allow-list). */
  readonly networks?: AgentNetworks;
  /**
   * `--agent-ca` is set: agents are expected to serve HTTPS, and one enrolling at an `http:` URL is
   * refused (it would take the dispatch path out of the CA check the operator asked for).
   */
  readonly requireTls?: boolean;
}

export interface EnrollOutcome {
  readonly agent: { id: string; environment: string; url?: string; transport: "http" | "nats" };
  readonly session: string;
  readonly heartbeatSeconds: number;
}

export class FleetRegistry {
  /** The inventory file and the enrolled agents that are not revoked, as the request path sees them. */
  readonly inventory: Inventory;
  private readonly deps: FleetRegistryDeps;
  private readonly networks: AgentNetworks;
  private readonly enrolled = new Map<string, EnrolledAgentRecord>();
  /** Heartbeats not yet written. */
  private readonly seen = new Map<string, number>();
  /** Enrollment tokens that no longer enroll or beat (revoked or expired), by id. */
  private deadTokens = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;

  constructor(deps: FleetRegistryDeps) {
    this.deps = deps;
    this.networks = deps.networks ?? new AgentNetworks([]);
    this.inventory = Object.freeze({
      source: deps.inventory.source,
      agents: new CombinedAgents(deps.inventory.agents, (id) => this.targetable(id)),
    });
  }

  /** Loads the enrolled agents and starts the refresh timer (unref'd). */
  async start(): Promise<void> {
    await this.refresh();
    this.timer ??= setInterval(() => {
      this.refreshing ??= this.refresh()
        .catch((err: unknown) => this.deps.log.error({ err }, "refreshing the fleet failed"))
        .finally(() => {
          this.refreshing = undefined;
        });
    }, this.deps.heartbeatSeconds * 1000);
    this.timer.unref();
  }

  /** Stops the timer and writes the heartbeats seen since the last refresh. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
    await this.flushHeartbeats();
  }

  /** Writes pending heartbeats, then reloads agents and token states from the store. */
  async refresh(): Promise<void> {
    await this.flushHeartbeats();
    const now = this.deps.now();
    const tokens = await this.deps.store.fleet.listEnrollTokens();
    this.deadTokens = new Set(tokens.filter((t) => !tokenLive(t, now)).map((t) => t.id));
    const agents = await this.deps.store.fleet.listEnrolledAgents();
    const ids = new Set<string>();
    for (const agent of agents) {
      ids.add(agent.id);
      const known = this.enrolled.get(agent.id);
      const lastSeenAt = Math.max(agent.lastSeenAt, known?.lastSeenAt ?? 0, this.seen.get(agent.id) ?? 0);
      this.enrolled.set(agent.id, { ...agent, lastSeenAt });
    }
    for (const id of this.enrolled.keys()) if (!ids.has(id)) this.enrolled.delete(id);
  }

  /**
   * Registers an agent presenting `token`. `remoteAddress` is the connection's, used for the URL when
   * the agent does not name one. Throws KH_UNAUTHENTICATED, KH_ENROLL_DENIED or KH_AGENT_ID_TAKEN.
   */
  async enroll(
    token: string,
    input: EnrollRequest & { labels: Record<string, string>; actions: string[] },
    remoteAddress: string,
  ): Promise<EnrollOutcome> {
    const { store, policy, now } = this.deps;
    const at = now();
    const found = await verifyEnrollToken(store.fleet, token, at);
    // The row alone proves nothing: its issuance must be on the audit chain (issue 23 attack, N4).
    const record = found && !(await enrollTokenNotOnChain(store, found)) ? found : undefined;
    if (!record) throw new ControllerError("KH_UNAUTHENTICATED", "a valid enrollment token is required");
    const refuse = async (
      code: "KH_ENROLL_DENIED" | "KH_AGENT_ID_TAKEN" | "KH_AGENT_KEY_MISMATCH",
      message: string,
    ) => {
      await store.appendAudit(
        [
          {
            actor: `agent:${input.id}`,
            event: "agent.refused",
            details: {
              agent: input.id,
              environment: input.environment,
              enrollTokenId: record.id,
              tokenEnvironment: record.environment,
              publicKey: input.publicKey,
              code,
              message,
            },
          },
        ],
        at,
      );
      return new ControllerError(code, message);
    };
    // The agent must hold the key it enrolls with: a token holder who names another agent's public
    // key cannot sign this request (issue 21, the takeover relay).
    const unproven = enrollProofProblem(input, at);
    if (unproven) throw await refuse("KH_AGENT_KEY_MISMATCH", unproven);
    if (input.environment !== record.environment) {
      throw await refuse(
        "KH_ENROLL_DENIED",
        `this enrollment token enrolls agents into "${record.environment}" only, not "${input.environment}"`,
      );
    }
    if (!policy.environments.has(input.environment))
      throw await refuse("KH_ENROLL_DENIED", `environment "${input.environment}" is not in the policy`);
    if (this.deps.inventory.agents.has(input.id))
      throw await refuse("KH_AGENT_ID_TAKEN", `agent id "${input.id}" is in the inventory file`);
    // An id belongs to one environment (issue 23 attack, N2: a staging token re-enrolled the offline
    // production agent's id, and requests for it then ran as staging, without approval, at the
    // attacker's URL). An id once enrolled stays in the environment it first enrolled in …
    const first = await this.firstEnvironment(input.id);
    if (first !== undefined && first !== input.environment) {
      throw await refuse(
        "KH_AGENT_ID_TAKEN",
        `agent id "${input.id}" is registered in environment "${first}"; only an enrollment token of "${first}" can enroll it`,
      );
    }
    // … and an id whose first segment names an environment enrolls only there.
    const named = input.id.split("/")[0];
    if (named !== undefined && named !== input.environment && policy.environments.has(named)) {
      throw await refuse(
        "KH_ENROLL_DENIED",
        `agent id "${input.id}" names environment "${named}"; an agent of "${input.environment}" cannot take it`,
      );
    }
    // The controller only talks to what an operator allowed (issue 23, finding 4): an agent of an
    // environment with an allow-list connects from inside it, and whatever URL it advertises (or its
    // connection's address) resolves only to allowed addresses, never to loopback, link-local or
    // metadata ones unless the allow-list names them. Dispatch checks the address again when it dials.
    if (this.networks.has(input.environment)) {
      const from = this.networks.refusal(
        input.environment,
        remoteAddress,
        "the enrolling connection's address",
      );
      if (from) throw await refuse("KH_ENROLL_DENIED", from);
    }
    // An agent on NATS has no address to dial: the controller reaches it on its own subject.
    const nats = input.transport === "nats";
    const url = nats
      ? NATS_AGENT_URL
      : (input.url ?? urlFrom(remoteAddress, input.port ?? 0, input.tls === true));
    if (!nats) {
      const shape = agentUrlShapeProblem(url);
      if (shape) throw await refuse("KH_ENROLL_DENIED", `${shape}: ${url}`);
      if (this.deps.requireTls && !url.startsWith("https:"))
        throw await refuse(
          "KH_ENROLL_DENIED",
          `this controller verifies its agents' certificates (--agent-ca) and dispatches over TLS only; the agent enrolled at ${url}: start it with --tls-cert and --tls-key`,
        );
      try {
        await this.networks.resolve(input.environment, new URL(url).hostname);
      } catch (err) {
        throw await refuse("KH_ENROLL_DENIED", `cannot enroll at ${url}: ${(err as Error).message}`);
      }
    }
    // Read from the store, not the cache: another replica may have pinned the key or allowed a rotation.
    const previous = (await store.fleet.getEnrolledAgent(input.id)) ?? this.enrolled.get(input.id);
    // An id is its key's (issue 21): pinned at its first enrollment, another key is refused and audited
    // unless an operator allowed one rotation (`keyhole agent-key allow-rotation`), for that key or any.
    let rotated: { from: string; allowedBy: string } | undefined;
    if (previous?.publicKey && previous.publicKey !== input.publicKey) {
      const rotation = previous.keyRotation;
      const allowed =
        rotation !== undefined &&
        rotation.until > at &&
        (rotation.publicKey === undefined || rotation.publicKey === input.publicKey);
      if (!allowed)
        throw await refuse(
          "KH_AGENT_KEY_MISMATCH",
          `agent id "${input.id}" is pinned to another public key (${previous.publicKey}); an operator can allow a new one with \`keyhole agent-key allow-rotation ${input.id}\``,
        );
      rotated = { from: previous.publicKey, allowedBy: rotation.allowedBy };
    }
    if (previous && previous.url !== url && this.stateOf(previous, at) === "online") {
      // Another live agent holds this id: taking it over would route its requests elsewhere.
      throw await refuse(
        "KH_AGENT_ID_TAKEN",
        `agent id "${input.id}" belongs to an online agent at another address; retry once it stops beating`,
      );
    }
    const { session, hash } = mintSession();
    const agent: EnrolledAgentRecord = {
      id: input.id,
      environment: input.environment,
      url,
      labels: { ...input.labels },
      actions: [...input.actions],
      enrollTokenId: record.id,
      sessionHash: hash,
      enrolledAt: at,
      lastSeenAt: at,
      publicKey: input.publicKey,
      // An allowance is used once: the next other key is refused again.
      keyRotation: rotated ? undefined : previous?.keyRotation,
    };
    const audit: AuditEntry = {
      actor: `agent:${input.id}`,
      event: "agent.enrolled",
      details: {
        agent: agent.id,
        environment: agent.environment,
        ...(nats ? { transport: "nats" } : { url: agent.url }),
        labels: agent.labels,
        actions: agent.actions,
        enrollTokenId: record.id,
        publicKey: input.publicKey,
        ...(previous && !previous.publicKey ? { keyPinned: "first enrollment since keys existed" } : {}),
        ...(rotated ? { rotated } : {}),
        ...(previous
          ? { replaced: { url: previous.url, enrolledAt: new Date(previous.enrolledAt).toISOString() } }
          : {}),
      },
    };
    await store.fleet.saveEnrolledAgent(agent, [audit], at);
    this.enrolled.set(agent.id, agent);
    this.seen.delete(agent.id);
    this.deps.log.info(
      { agent: agent.id, environment: agent.environment, ...(nats ? { transport: "nats" } : { url }) },
      "agent enrolled",
    );
    return {
      agent: {
        id: agent.id,
        environment: agent.environment,
        ...(nats ? { transport: "nats" as const } : { url, transport: "http" as const }),
      },
      session,
      heartbeatSeconds: this.deps.heartbeatSeconds,
    };
  }

  /**
   * The environment an id was first enrolled in: its stored record's (enrolled agents' rows are never
   * deleted, and a re-enrollment keeps the environment, so it is the first one). Undefined for an id
   * never enrolled.
   */
  private async firstEnvironment(id: string): Promise<string | undefined> {
    const known = this.enrolled.get(id) ?? (await this.deps.store.fleet.getEnrolledAgent(id));
    if (known) return known.environment;
    return undefined;
  }

  /** Marks an agent seen. Throws KH_UNAUTHENTICATED for a wrong session or a dead enrollment token. */
  async heartbeat(session: string, id: string): Promise<{ heartbeatSeconds: number }> {
    const at = this.deps.now();
    const agent = this.enrolled.get(id) ?? (await this.deps.store.fleet.getEnrolledAgent(id));
    if (!agent || !sessionMatches(agent.sessionHash, session))
      throw new ControllerError("KH_UNAUTHENTICATED", "a valid agent session is required");
    // Read, not cached: a revoked token stops its agents at their next beat, on every replica.
    const token = await this.deps.store.fleet.getEnrollToken(agent.enrollTokenId);
    if (!token || !tokenLive(token, at)) {
      this.deadTokens.add(agent.enrollTokenId);
      throw new ControllerError("KH_UNAUTHENTICATED", "the agent's enrollment token is revoked or expired");
    }
    if (!this.enrolled.has(id)) this.enrolled.set(id, agent);
    this.seen.set(id, at);
    return { heartbeatSeconds: this.deps.heartbeatSeconds };
  }

  /** Every agent, static first, then enrolled; optionally only those a selector matches. */
  list(selector?: Selector): FleetAgent[] {
    const now = this.deps.now();
    const out: FleetAgent[] = [];
    for (const agent of this.deps.inventory.agents.values()) {
      // The inventory's own fields only (not its dialling helpers), its pinned key among them.
      out.push({ ...agent, labels: agent.labels, source: "static", state: "static" });
    }
    for (const agent of [...this.enrolled.values()].sort((a, b) => a.id.localeCompare(b.id))) {
      out.push({
        id: agent.id,
        environment: agent.environment,
        ...addressOf(agent.url),
        labels: agent.labels,
        source: "enrolled",
        state: this.stateOf(agent, now),
        actions: agent.actions,
        enrolledAt: agent.enrolledAt,
        lastSeenAt: this.lastSeen(agent),
        ...(agent.publicKey ? { publicKey: agent.publicKey } : {}),
      });
    }
    return selector ? out.filter((a) => selectorMatches(selector, a.labels)) : out;
  }

  private lastSeen(agent: EnrolledAgentRecord): number {
    return Math.max(agent.lastSeenAt, this.seen.get(agent.id) ?? 0);
  }

  private stateOf(agent: EnrolledAgentRecord, now: number): AgentState {
    if (this.deadTokens.has(agent.enrollTokenId)) return "revoked";
    return now - this.lastSeen(agent) <= this.deps.offlineAfterSeconds * 1000 ? "online" : "offline";
  }

  /** An enrolled agent the request path may address (by id): any state but revoked. */
  private targetable(id: string): InventoryAgent | undefined {
    const agent = this.enrolled.get(id);
    if (!agent || this.stateOf(agent, this.deps.now()) === "revoked") return undefined;
    return {
      id: agent.id,
      environment: agent.environment,
      ...addressOf(agent.url),
      labels: agent.labels,
      // Dialled only at an address --agent-networks allows, checked when connecting.
      lookup: this.networks.pinnedLookup(agent.environment),
      enrolled: true,
      // Its answers must be signed with the key it enrolled with (issue 21).
      ...(agent.publicKey ? { publicKey: agent.publicKey } : {}),
    };
  }

  private async flushHeartbeats(): Promise<void> {
    if (this.seen.size === 0) return;
    const batch = [...this.seen].map(([id, at]) => ({ id, at }));
    this.seen.clear();
    for (const { id, at } of batch) {
      const agent = this.enrolled.get(id);
      if (agent && agent.lastSeenAt < at) this.enrolled.set(id, { ...agent, lastSeenAt: at });
    }
    await this.deps.store.fleet.recordHeartbeats(batch);
  }
}

/** Why an enrollment's proof of key possession fails, or undefined when it holds. */
function enrollProofProblem(input: EnrollRequest, at: number): string | undefined {
  const { proof, ...request } = input;
  if (Math.abs(proof.iat - Math.floor(at / 1000)) > ENROLL_PROOF_MAX_AGE_SECONDS)
    return `the enrollment proof was signed at ${proof.iat}, more than ${ENROLL_PROOF_MAX_AGE_SECONDS} s from the controller's clock`;
  try {
    const key = publicKeyObject(input.publicKey);
    if (
      verifySignature(
        null,
        enrollProofInput(request, proof.iat),
        key,
        Buffer.from(proof.signature, "base64url"),
      )
    )
      return undefined;
  } catch {
    return "the enrollment's public key is not an Ed25519 key";
  }
  return "the enrollment proof does not verify with the public key it names: the agent does not hold that key";
}

/** An enrolled agent's stored URL column as transport and URL (NATS_AGENT_URL for one on NATS). */
function addressOf(url: string): { transport: "http" | "nats"; url?: string } {
  return url === NATS_AGENT_URL ? { transport: "nats" } : { transport: "http", url };
}

function tokenLive(token: EnrollTokenRecord, now: number): boolean {
  return token.revokedAt === undefined && token.expiresAt > now;
}

/** `http(s)://<address>:<port>`, for an agent that did not say where it listens. */
function urlFrom(remoteAddress: string, port: number, tls: boolean): string {
  const address = remoteAddress.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, "");
  return `${tls ? "https" : "http"}://${address.includes(":") ? `[${address}]` : address}:${port}`;
}

/**
 * The inventory's map with enrolled agents behind it: what `inventory.agents.get(id)` answers on the
 * request path. The file wins over enrollment (enrollment refuses its ids anyway).
 */
class CombinedAgents implements ReadonlyMap<string, InventoryAgent> {
  constructor(
    private readonly fixed: ReadonlyMap<string, InventoryAgent>,
    private readonly enrolled: (id: string) => InventoryAgent | undefined,
  ) {}

  get(id: string): InventoryAgent | undefined {
    return this.fixed.get(id) ?? this.enrolled(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** The inventory file's agents only: iteration is for start-up reports, targets are looked up by id. */
  get size(): number {
    return this.fixed.size;
  }

  forEach(fn: (value: InventoryAgent, key: string, map: ReadonlyMap<string, InventoryAgent>) => void): void {
    for (const [k, v] of this.fixed) fn(v, k, this);
  }

  entries(): MapIterator<[string, InventoryAgent]> {
    return this.fixed.entries();
  }

  keys(): MapIterator<string> {
    return this.fixed.keys();
  }

  values(): MapIterator<InventoryAgent> {
    return this.fixed.values();
  }

  [Symbol.iterator](): MapIterator<[string, InventoryAgent]> {
    return this.fixed.entries();
  }
}
