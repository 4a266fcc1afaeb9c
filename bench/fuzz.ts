/**
 * Fuzzing both services with fast-check, through `inject()` (no sockets, so thousands of cases a
 * second): the agent's envelope handling and every controller route get random and adversarial
 * input — truncated and re-encoded JWS, wrong types, huge numbers, deep JSON, unicode tricks in
 * paths and names, duplicate JSON keys, bad auth headers. The properties:
 *
 * - every answer is a coded 4xx (`{"error":{"code":"KH_…"}}`), never a 5xx, never a crash;
 * - nothing runs on a refusal: the agent's actions are counted (each 200 ran exactly one action,
 *   each refusal none), and the controller's created requests equal its 201 answers and the
 *   agent's runs equal its completed requests;
 * - the audit chain still verifies afterwards.
 *
 * `npm test` runs a quick pass (test/fuzz/*.test.ts); `npm run bench -- fuzz` runs at least 10,000
 * cases per target. Seeds are printed so a failure can be replayed.
 */
import { generateKeyPairSync, type KeyObject, randomBytes, randomUUID, sign } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { exportJWK } from "jose";
import { ACTIONS } from "../agent/actions/index.js";
import type { ActionDefinition } from "../agent/actions/types.js";
import { buildApp as buildAgentApp } from "../agent/app.js";
import { loadAgentConfig } from "../agent/config.js";
import { createRedactor } from "../agent/redact/index.js";
import { loadTrustedKeys, parseTrustedKeys } from "../agent/trusted-keys.js";
import { findBrokenLink } from "../controller/audit/chain.js";
import { loadControllerConfig } from "../controller/config.js";
import { issueToken } from "../controller/identity/cli.js";
import { loadEnvironmentKeys } from "../controller/keys.js";
import { type ControllerRuntime, createController } from "../controller/runtime.js";
import { REQUEST_ALG, REQUEST_TYP } from "../protocol/request.js";
import type { BenchResult } from "./lib.js";

export interface FuzzStats {
  readonly target: string;
  readonly cases: number;
  readonly seed: number;
  readonly ms: number;
  /** Answers by status code. */
  readonly statuses: Record<number, number>;
  /** Actions the agent ran, or requests the controller created. */
  readonly ran: number;
  readonly accepted: number;
}

/** An invariant broken by one case; fast-check shrinks and reports it with the seed. */
class FuzzViolation extends Error {}

function check(condition: boolean, message: () => string): void {
  if (!condition) throw new FuzzViolation(message());
}

type Answer = { statusCode: number; headers: Record<string, unknown>; body: string };

/** A refusal must be JSON `{"error":{"code":"KH_…","message":"…"}}` with a 4xx status. */
function checkCoded(res: Answer, what: string): void {
  check(res.statusCode < 500, () => `${what}: answered ${res.statusCode} ${res.body.slice(0, 300)}`);
  if (res.statusCode < 400) return;
  // The console's pages answer a refusal with an HTML page for people and its code in a header.
  const type = String(res.headers["content-type"] ?? "");
  if (type.startsWith("text/html")) {
    const code = res.headers["x-keyhole-error"];
    check(
      typeof code === "string" && /^KH_[A-Z_]+$/.test(code) && res.body.includes(code),
      () => `${what}: ${res.statusCode} HTML page without its code: ${res.body.slice(0, 300)}`,
    );
    return;
  }
  let body: { error?: { code?: unknown; message?: unknown } } | undefined;
  try {
    body = JSON.parse(res.body);
  } catch {
    body = undefined;
  }
  check(
    typeof body?.error?.code === "string" &&
      /^KH_[A-Z_]+$/.test(body.error.code) &&
      typeof body.error.message === "string",
    () => `${what}: ${res.statusCode} without a coded body: ${res.body.slice(0, 300)}`,
  );
  check(
    String(res.headers["content-type"] ?? "").startsWith("application/json"),
    () => `${what}: content-type ${String(res.headers["content-type"])}`,
  );
}

// ---------------------------------------------------------------- shared adversarial values

/** `[[[…]]]` `depth` levels deep, built without recursion. */
function nested(depth: number, object = false): unknown {
  let value: unknown = 0;
  for (let i = 0; i < depth; i++) value = object ? { a: value } : [value];
  return value;
}

const UNICODE_TRICKS = [
  "\u202eofni-ssecorp", // right-to-left override
  "process\u200binfo", // zero-width space
  "process-info\u0000",
  "\ufeffprocess-info",
  "ｐｒｏｃｅｓｓ-ｉｎｆｏ", // fullwidth
  "process\u2010info", // unicode hyphen
  "PROCESS-INFO",
  " process-info",
  "process-info\n",
  "proce\u0301ss-info",
  "\ud800", // lone surrogate
  "😀".repeat(40),
  "İı",
  "../../../etc/passwd",
  "..%2f..%2fetc%2fpasswd",
  "%00",
  "staging/shop/shop-0\u0000",
  "staging/shop/shop-0/../shop-1",
  "STAGING/SHOP/SHOP-0",
  "user:alice@example.com\r\nX-Injected: 1",
  ["$", "{jndi:ldap://x}"].join(""), // a log4shell probe
  "<script>",
  "__proto__",
  "constructor",
];

const HUGE_NUMBERS = [
  1e308,
  -1e308,
  2 ** 53 + 1,
  -(2 ** 53),
  5e-324,
  -0,
  1e21,
  2 ** 64,
  0.1,
  -1,
  4294967296,
  Number.MAX_SAFE_INTEGER,
];

/** A JSON value chosen to break parsers and schemas. */
const adversarialValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: fc.constantFrom(...UNICODE_TRICKS) },
  { weight: 2, arbitrary: fc.constantFrom(...HUGE_NUMBERS) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((d) => nested(d)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 3000 }).map((d) => nested(d, true)) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 600 }) },
  { weight: 1, arbitrary: fc.constant("x".repeat(5000)) },
);

/** JSON object text whose keys may repeat (`{"a":1,"a":2}`), from `[key, value]` pairs. */
function objectText(entries: readonly (readonly [string, unknown])[]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? "null"}`).join(",")}}`;
}

/** Base64url, or a wrong encoding of the same bytes (standard alphabet with padding, or spaces). */
function encodings(bytes: Buffer): fc.Arbitrary<string> {
  return fc.constantFrom(
    bytes.toString("base64url"),
    bytes.toString("base64"),
    `${bytes.toString("base64url")}=`,
    ` ${bytes.toString("base64url")}`,
    bytes.toString("base64url").toUpperCase(),
    bytes.toString("hex"),
  );
}

// ---------------------------------------------------------------- the agent

const AGENT_ID = "staging/shop/shop-0";

interface AgentHarness {
  readonly app: FastifyInstance;
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** Runs of any action so far. */
  runs(): number;
  close(): Promise<void>;
}

/** Counts every run of every action, so a property can prove a refusal ran nothing. */
function countingRegistry(registry: ReadonlyMap<string, ActionDefinition>, onRun: () => void) {
  return new Map(
    [...registry].map(([name, action]): [string, ActionDefinition] => [
      name,
      {
        ...action,
        run: (params, ctx) => {
          onRun();
          return action.run(params, ctx);
        },
      },
    ]),
  );
}

async function startAgentHarness(): Promise<AgentHarness> {
  const kid = "fuzz-key-1";
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: REQUEST_ALG, use: "sig" }] };
  let runs = 0;
  const config = loadAgentConfig(
    {
      id: AGENT_ID,
      environment: "staging",
      trustedKeys: "unused",
      target: String(process.pid),
      // Only actions that cost little and read nothing outside /proc: the fuzz is about refusals.
      actions: "process-info,net-connections,log-tail,env",
    },
    {},
  );
  const app = buildAgentApp(config, {
    trustedKeys: parseTrustedKeys(JSON.stringify(jwks), "fuzz jwks"),
    registry: countingRegistry(ACTIONS, () => runs++),
    redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
    logger: false,
  });
  await app.ready();
  return { app, kid, privateKey, runs: () => runs, close: () => app.close() };
}

/** Signs the exact header and payload texts (so they may hold duplicate keys or odd spacing). */
function signTexts(headerText: string, payloadText: string, key: KeyObject): string {
  const input = `${Buffer.from(headerText).toString("base64url")}.${Buffer.from(payloadText).toString("base64url")}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString("base64url")}`;
}

function validClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return {
    iss: "keyhole-controller",
    sub: "user:alice@example.com",
    aud: AGENT_ID,
    env: "staging",
    iat: now,
    exp: now + 60,
    jti: randomBytes(16).toString("base64url"),
    action: "process-info",
    params: {},
    reason: "fuzz",
    approvals: [],
    output: { mode: "inline" },
    ...overrides,
  };
}

/** A genuine envelope, mutated the ways a broken proxy or an attacker would. */
function mutatedEnvelope(h: AgentHarness): fc.Arbitrary<{ body: string; original: string }> {
  const header = JSON.stringify({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid: h.kid });
  return fc
    .tuple(
      fc.nat(),
      fc.nat(),
      fc.constantFrom(
        "truncate",
        "flip",
        "insert",
        "reencode",
        "drop-segment",
        "extra-segment",
        "swap-header",
        "case",
        "whitespace",
      ),
      fc.constantFrom(
        { alg: "none", typ: REQUEST_TYP, kid: "fuzz-key-1" },
        { alg: "HS256", typ: REQUEST_TYP, kid: "fuzz-key-1" },
        { alg: "EdDSA", typ: "JWT", kid: "fuzz-key-1" },
        { alg: "EdDSA", typ: REQUEST_TYP, kid: "fuzz-key-1", crit: ["b64"], b64: false },
        { alg: "EdDSA", typ: REQUEST_TYP, kid: "other-key" },
        { alg: "EdDSA", typ: REQUEST_TYP, kid: "fuzz-key-1", jku: "http://evil/jwks" },
        { alg: "EdDSA", typ: REQUEST_TYP },
        { alg: ["EdDSA"], typ: REQUEST_TYP, kid: "fuzz-key-1" },
      ),
      fc.constantFrom(..."ABCDEFabcdef0123456789-_.=+/ \n\u00e9"),
      fc.constantFrom(0, 1, 2),
    )
    .chain(([at, at2, how, badHeader, ch, segment]) => {
      const original = signTexts(header, JSON.stringify(validClaims()), h.privateKey);
      const parts = original.split(".");
      const i = at % (original.length + 1);
      switch (how) {
        case "truncate":
          return fc.constant({ body: original.slice(0, i), original });
        case "flip":
          return fc.constant({
            body: original.slice(0, i) + ch + original.slice(Math.min(original.length, i + 1)),
            original,
          });
        case "insert":
          return fc.constant({ body: original.slice(0, i) + ch + original.slice(i), original });
        case "reencode":
          return encodings(Buffer.from(parts[segment]!, "base64url")).map((enc) => {
            const copy = [...parts];
            copy[segment] = enc;
            return { body: copy.join("."), original };
          });
        case "drop-segment":
          return fc.constant({ body: parts.filter((_, k) => k !== segment).join("."), original });
        case "extra-segment":
          return fc.constant({ body: `${original}.${parts[at2 % 3]}`, original });
        case "swap-header": {
          // Re-signed with the real key: only the header check can refuse it.
          const payload = Buffer.from(parts[1]!, "base64url").toString();
          return fc.constant({ body: signTexts(JSON.stringify(badHeader), payload, h.privateKey), original });
        }
        case "case":
          return fc.constant({ body: at2 % 2 ? original.toUpperCase() : original.toLowerCase(), original });
        default:
          return fc.constant({ body: `${original.slice(0, i)}\r\n${original.slice(i)}`, original });
      }
    });
}

/** Validly signed envelopes whose claims are adversarial: wrong types, tricks, duplicate keys. */
function adversarialClaims(h: AgentHarness): fc.Arbitrary<string> {
  const claimNames = [
    "iss",
    "sub",
    "aud",
    "env",
    "iat",
    "exp",
    "jti",
    "action",
    "params",
    "reason",
    "ticket",
    "approvals",
    "breakGlass",
    "output",
    "traceparent",
    "extra",
    "__proto__",
  ];
  const header = JSON.stringify({ alg: REQUEST_ALG, typ: REQUEST_TYP, kid: h.kid });
  return fc
    .tuple(
      fc.array(fc.tuple(fc.constantFrom(...claimNames), adversarialValue), { maxLength: 4 }),
      fc.array(fc.tuple(fc.constantFrom(...claimNames), adversarialValue), { maxLength: 2 }),
      fc.constantFrom("process-info", "log-tail", "env", "net-connections", "heap-snapshot", "bundle"),
    )
    .map(([overrides, duplicates, action]) => {
      const base = Object.entries(validClaims({ action }));
      const merged = new Map<string, unknown>(base);
      for (const [k, v] of overrides) merged.set(k, v);
      // Duplicates are appended after the object's keys: JSON.parse keeps the last.
      return signTexts(header, objectText([...merged, ...duplicates]), h.privateKey);
    });
}

const MEDIA_TYPES = [
  "application/jwt",
  "application/jwt; charset=utf-8",
  "APPLICATION/JWT",
  "application/json",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "",
];

const AGENT_PATHS = [
  "/v1/requests",
  "/v1/requests/",
  "//v1/requests",
  "/v1/requests?x=%ff",
  "/v1/requests/%2e%2e",
  "/v1/%00requests",
  "/v1/requests#x",
  "/healthz",
  "/healthz/..%2fv1%2frequests",
  "/%zz",
  "/v1/requests;x=1",
  `/${"a".repeat(3000)}`,
  "/v1/re%71uests",
];

/** Runs every agent property for `numRuns` cases each; throws on the first broken invariant. */
export async function fuzzAgent(numRuns: number, seed = Date.now() % 2 ** 31): Promise<FuzzStats[]> {
  const h = await startAgentHarness();
  const stats: FuzzStats[] = [];
  try {
    const run = async <T>(
      target: string,
      arb: fc.Arbitrary<T>,
      send: (value: T) => Promise<Answer>,
      /** For an answer below 400: how many actions it should have run, or false if it must not pass. */
      allowOk: (value: T) => 0 | 1 | false,
    ) => {
      const statuses: Record<number, number> = {};
      let accepted = 0;
      const runsBefore = h.runs();
      const started = performance.now();
      await fc.assert(
        fc.asyncProperty(arb, async (value) => {
          const before = h.runs();
          const res = await send(value);
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          checkCoded(res, target);
          if (res.statusCode < 400) {
            const expected = allowOk(value);
            check(expected !== false, () => `${target}: accepted ${JSON.stringify(value).slice(0, 400)}`);
            accepted += expected === false ? 0 : expected;
            check(
              h.runs() === before + Number(expected),
              () => `${target}: an accepted request ran ${h.runs() - before} actions`,
            );
          } else {
            check(h.runs() === before, () => `${target}: a refusal (${res.statusCode}) ran an action`);
          }
        }),
        { numRuns, seed },
      );
      stats.push({
        target,
        cases: numRuns,
        seed,
        ms: performance.now() - started,
        statuses,
        ran: h.runs() - runsBefore,
        accepted,
      });
    };
    const post = (body: string, type = "application/jwt", url = "/v1/requests") =>
      h.app.inject({
        method: "POST",
        url,
        headers: type ? { "content-type": type } : {},
        body,
      }) as Promise<Answer>;

    await run(
      "agent: random bodies, media types, methods and paths",
      fc.tuple(
        fc.oneof(
          fc.string({ unit: "grapheme", maxLength: 400 }),
          fc.stringMatching(/^[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,60}\.[A-Za-z0-9_-]{0,90}$/),
          fc.jsonValue().map((v) => JSON.stringify(v) ?? ""),
          fc.constant("x".repeat(70_000)),
        ),
        fc.constantFrom(...MEDIA_TYPES),
        fc.constantFrom("POST", "POST", "POST", "GET", "PUT", "DELETE", "OPTIONS", "PATCH"),
        fc.constantFrom(...AGENT_PATHS),
      ),
      ([body, type, method, url]) =>
        h.app.inject({
          method: method as "POST",
          url,
          headers: type ? { "content-type": type } : {},
          ...(method === "GET" || method === "OPTIONS" ? {} : { body }),
        }) as Promise<Answer>,
      ([, , method, url]) => (method === "GET" && url === "/healthz" ? 0 : false),
    );

    await run(
      "agent: truncated, re-encoded and tampered envelopes",
      mutatedEnvelope(h),
      ({ body }) => post(body),
      // Only the genuine envelope itself may pass (a mutation that changed nothing).
      ({ body, original }) => (body === original ? 1 : false),
    );

    await run(
      "agent: signed envelopes with adversarial claims and duplicate keys",
      adversarialClaims(h),
      (body) => post(body),
      () => 1, // a signed, well-formed request may run; the property is: never a 5xx, runs == 200s
    );
  } finally {
    await h.close();
  }
  return stats;
}

// ---------------------------------------------------------------- the controller

const POLICY = `environments:
  production: { approvals: 1, maxTtlSeconds: 120 }
  staging: { approvals: 0, maxTtlSeconds: 60 }
roles:
  sre: { actions: ["*"] }
  support: { actions: [process-info] }
bindings:
  - { subjects: ["group:sre"], role: sre, environments: ["*"] }
  - { subjects: ["group:support"], role: support, environments: [staging, production] }
`;

interface ControllerHarness {
  readonly controller: ControllerRuntime;
  readonly tokens: Record<"alice" | "bob" | "carol", string>;
  /** More SRE callers: the per-subject rate limit on creation then still lets many through. */
  readonly creators: readonly string[];
  /** Every route the controller registered, as `METHOD url`. */
  readonly routes: readonly { method: string; url: string }[];
  /** Ids of real requests, so approve/deny/get reach real objects too. */
  readonly ids: string[];
  agentRuns(): number;
  close(): Promise<void>;
}

async function startControllerHarness(): Promise<ControllerHarness> {
  const dir = await mkdtemp(join(tmpdir(), "keyhole-fuzz-"));
  const dataDir = join(dir, "data");
  await loadEnvironmentKeys({ dataDir, environments: ["staging", "production"], explicit: [] });
  let runs = 0;
  const agents: FastifyInstance[] = [];
  const inventory: string[] = [];
  for (const env of ["staging", "production"]) {
    const id = `${env}/shop/shop-0`;
    const config = loadAgentConfig(
      { id, environment: env, trustedKeys: "unused", target: String(process.pid), actions: "process-info" },
      {},
    );
    const agent = buildAgentApp(config, {
      trustedKeys: loadTrustedKeys(join(dataDir, "keys", env, "jwks.json")),
      registry: countingRegistry(ACTIONS, () => runs++),
      redactor: createRedactor({ fingerprintKey: Buffer.alloc(32, 7) }),
      logger: false,
    });
    await agent.listen({ host: "127.0.0.1", port: 0 });
    const { port } = agent.server.address() as AddressInfo;
    inventory.push(`- { id: ${id}, environment: ${env}, url: "http://127.0.0.1:${port}" }`);
    agents.push(agent);
  }
  await writeFile(join(dir, "policy.yaml"), POLICY);
  await writeFile(join(dir, "inventory.yaml"), `${inventory.join("\n")}\n`);
  const config = loadControllerConfig(
    {
      dataDir,
      policy: join(dir, "policy.yaml"),
      inventory: join(dir, "inventory.yaml"),
      listen: "127.0.0.1:0",
    },
    {},
  );
  const controller = await createController(config);
  const routes: { method: string; url: string }[] = [];
  // Plugins load at ready(), so this sees every route, including ones added after this was written.
  controller.app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat())
      if (method !== "HEAD") routes.push({ method, url: route.url });
  });
  await controller.app.ready();
  const token = async (subject: string, groups: string[]) =>
    (await issueToken({ dataDir, subject, groups })).token;
  return {
    controller,
    tokens: {
      alice: await token("user:alice@example.com", ["sre"]),
      bob: await token("user:bob@example.com", ["sre"]),
      carol: await token("user:carol@example.com", ["support"]),
    },
    routes,
    creators: await Promise.all(
      Array.from({ length: 40 }, (_, i) => token(`user:sre${i}@example.com`, ["sre"])),
    ),
    ids: [],
    agentRuns: () => runs,
    close: async () => {
      await controller.close();
      await Promise.all(agents.map((a) => a.close()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const TARGETS = ["staging/shop/shop-0", "production/shop/shop-0", ...UNICODE_TRICKS.slice(0, 12)];
const ACTION_NAMES = ["process-info", "env", "heap-snapshot", "nope", ...UNICODE_TRICKS.slice(0, 10)];

/** Valid most of the time, adversarial otherwise, so both acceptance and refusal are exercised. */
function mostly<T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: adversarialValue });
}

/** A create body: each field valid or adversarial, sometimes missing, sometimes duplicated. */
const createBody: fc.Arbitrary<string> = fc
  .record({
    action: mostly(
      fc.oneof({ weight: 4, arbitrary: fc.constant("process-info") }, fc.constantFrom(...ACTION_NAMES)),
    ),
    target: mostly(
      fc.oneof({ weight: 4, arbitrary: fc.constant("staging/shop/shop-0") }, fc.constantFrom(...TARGETS)),
    ),
    reason: mostly(
      fc.oneof({ weight: 4, arbitrary: fc.constant("fuzz") }, fc.constantFrom("", "   ", "x".repeat(501))),
    ),
    params: mostly(
      fc.oneof(
        { weight: 3, arbitrary: fc.constant({}) },
        {
          weight: 1,
          arbitrary: fc.dictionary(fc.string({ maxLength: 8 }), adversarialValue, { maxKeys: 3 }),
        },
      ),
    ),
    ticket: fc.oneof(fc.constant(undefined), fc.constantFrom("T-1", ""), adversarialValue),
    output: fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.constantFrom("inline", "stream", "s3", "INLINE") },
      { weight: 1, arbitrary: adversarialValue },
    ),
    extra: fc.oneof(
      { weight: 4, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: adversarialValue },
    ),
  })
  .chain((fields) =>
    fc
      .tuple(
        fc.oneof(
          { weight: 3, arbitrary: fc.constant(Object.keys(fields)) },
          { weight: 1, arbitrary: fc.subarray(Object.keys(fields)) },
        ),
        fc.oneof(
          { weight: 3, arbitrary: fc.constant([] as [string, unknown][]) },
          {
            weight: 1,
            arbitrary: fc.array(
              fc.tuple(fc.constantFrom("action", "target", "params", "__proto__"), adversarialValue),
              { maxLength: 2 },
            ),
          },
        ),
      )
      .map(([keep, dups]) =>
        objectText([
          ...Object.entries(fields).filter(([k, v]) => keep.includes(k) && v !== undefined),
          ...dups,
        ]),
      ),
  );

/** A body for any route: JSON objects, broken JSON, deep JSON, prototype tricks. */
const anyBody: fc.Arbitrary<string | undefined> = fc.oneof(
  { weight: 4, arbitrary: createBody },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v) ?? "null") },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 30_000 }).map((d) => "[".repeat(d) + "]".repeat(d)) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 100, max: 20_000 })
      .map(
        (d) =>
          `{"action":"process-info","target":"staging/shop/shop-0","reason":"deep","params":{"a":${"[".repeat(d)}${"]".repeat(d)}}}`,
      ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"__proto__":{"admin":true},"action":"process-info"}',
      '{"constructor":{"prototype":{"x":1}}}',
      '{"reason":"a","reason":"b"}',
      "{",
      "",
      "null",
      "[]",
      '"string"',
      "1e999",
      `{"reason":"${"x".repeat(70_000)}"}`,
    ),
  },
);

const AUTH_VARIANTS = (t: ControllerHarness["tokens"]) => [
  `Bearer ${t.alice}`,
  `Bearer ${t.alice}`,
  `Bearer ${t.bob}`,
  `Bearer ${t.carol}`,
  undefined,
  "",
  "Bearer",
  "Bearer ",
  `bearer ${t.alice}`,
  `Bearer  ${t.alice}`,
  `Bearer ${t.alice} ${t.bob}`,
  `Basic ${Buffer.from("alice:pw").toString("base64")}`,
  `Bearer ${t.alice.slice(0, -1)}`,
  `Bearer ${t.alice}x`,
  `Bearer ${"A".repeat(600)}`,
  "Bearer kh_\u0000_x",
  "Bearer ﻿kh_x",
  `Bearer ${t.alice.toUpperCase()}`,
  "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyOmFsaWNlQGV4YW1wbGUuY29tIn0.",
];

/** Fills a route's `:params` with an adversarial or a real value. */
function pathValue(ids: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.constantFrom(...(ids.length > 0 ? ids : [randomUUID()])),
    fc.constant(randomUUID()),
    fc.constantFrom(
      "..",
      "%2e%2e",
      "%2F",
      "%00",
      "%zz",
      "%ff%fe",
      "a".repeat(70),
      "a".repeat(2000),
      "%E2%80%AE",
      "%F0%9F%98%80",
      "-",
      "null",
    ),
    fc.string({ unit: "grapheme", maxLength: 30 }).map(encodeURIComponent),
  );
}

const QUERIES = [
  "",
  "?",
  "?status=pending",
  "?limit=1e9",
  "?limit=-1",
  "?limit=2&limit=3",
  "?status=%00",
  "?x=1",
  "?__proto__=1",
  "?limit=01",
];

/** Runs the controller property for `numRuns` cases; throws on the first broken invariant. */
export async function fuzzController(numRuns: number, seed = Date.now() % 2 ** 31): Promise<FuzzStats[]> {
  const h = await startControllerHarness();
  const statuses: Record<number, number> = {};
  let created = 0;
  const started = performance.now();
  try {
    // A few real requests (pending in production, so approve/deny reach real objects).
    for (let i = 0; i < 3; i++) {
      const res = await h.controller.app.inject({
        method: "POST",
        url: "/v1/requests",
        headers: { authorization: `Bearer ${h.tokens.alice}` },
        payload: { action: "process-info", target: "production/shop/shop-0", reason: "seed" },
      });
      created++;
      h.ids.push(JSON.parse(res.body).request.id);
    }
    const routeList = h.routes;
    const auths = AUTH_VARIANTS(h.tokens);
    await fc.assert(
      fc.asyncProperty(
        // Every route, and creation more often: it is the route that makes things run.
        fc.oneof(fc.constantFrom(...routeList), fc.constant({ method: "POST", url: "/v1/requests" })),
        fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"),
        fc.boolean(),
        pathValue(h.ids),
        fc.constantFrom(...QUERIES),
        anyBody,
        fc.oneof(
          { weight: 3, arbitrary: fc.constant("application/json") },
          fc.constantFrom(
            "text/plain",
            "application/jwt",
            "",
            "application/json; charset=latin1",
            "APPLICATION/JSON",
          ),
        ),
        fc.oneof(
          fc.constantFrom(`Bearer ${h.tokens.alice}`, `Bearer ${h.tokens.bob}`),
          fc.constantFrom(...auths),
        ),
        // A third of the cases: a well-formed create with a mostly valid body, so some pass and run.
        fc.option(createBody, { freq: 2 }),
        fc.nat(),
        async (
          route,
          otherMethod,
          useRouteMethod,
          param,
          query,
          anyInput,
          anyType,
          anyAuth,
          focused,
          who,
        ) => {
          const focus = focused !== null;
          const url = focus ? "/v1/requests" : route.url.replace(/:[A-Za-z]+/g, param) + query;
          const method = focus ? "POST" : useRouteMethod ? route.method : otherMethod;
          const body = focus ? focused : anyInput;
          const type = focus ? "application/json" : anyType;
          const auth = focus ? `Bearer ${h.creators[who % h.creators.length]}` : anyAuth;
          const headers: Record<string, string> = {};
          if (auth !== undefined) headers.authorization = auth;
          if (type && body !== undefined) headers["content-type"] = type;
          let res: Answer;
          try {
            res = (await h.controller.app.inject({
              method: method as "GET",
              url,
              headers,
              ...(body === undefined || method === "GET" ? {} : { payload: body }),
            })) as Answer;
          } catch (err) {
            // light-my-request refuses some header values itself (control characters): not a server answer.
            if (/Invalid character|invalid header/i.test((err as Error).message)) return;
            throw err;
          }
          statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
          checkCoded(res, `${method} ${url}`);
          if (res.statusCode === 201 && method === "POST" && /^\/v1\/requests(\?|$)/.test(url)) {
            created++;
            const id = JSON.parse(res.body).request?.id;
            if (typeof id === "string" && h.ids.length < 50) h.ids.push(id);
          }
        },
      ),
      { numRuns, seed },
    );
    await h.controller.dispatcher.whenIdle();
    const store = h.controller.store;
    const all = await store.listRequests({ limit: 100_000 });
    check(all.length === created, () => `controller: ${all.length} requests stored, ${created} answered 201`);
    const completed = all.filter((r) => r.record.status === "completed").length;
    check(
      h.agentRuns() === completed,
      () => `controller: the agents ran ${h.agentRuns()} actions for ${completed} completed requests`,
    );
    check(
      all.every((r) => r.record.status !== "dispatched"),
      () => "controller: a request is still dispatched after the dispatcher went idle",
    );
    const broken = findBrokenLink(await store.listAudit({ limit: 1_000_000 }));
    check(broken === undefined, () => `controller: the audit chain breaks at seq ${broken?.seq}`);
    return [
      {
        target: `controller: ${routeList.length} routes × methods, params, queries, bodies, auth headers`,
        cases: numRuns,
        seed,
        ms: performance.now() - started,
        statuses,
        ran: h.agentRuns(),
        accepted: created,
      },
    ];
  } finally {
    await h.close();
  }
}

export function describeStats(s: FuzzStats): string {
  const byStatus = Object.entries(s.statuses)
    .map(([status, n]) => `${status}×${n}`)
    .join(" ");
  return `${s.target}: ${s.cases} cases in ${(s.ms / 1000).toFixed(1)} s (seed ${s.seed}); ${byStatus}; ${s.accepted} accepted, ${s.ran} ran`;
}

/** `npm run bench -- fuzz`: ≥ 10,000 cases per target (KEYHOLE_FUZZ_RUNS overrides). */
export async function benchFuzz(
  numRuns = Number(process.env.KEYHOLE_FUZZ_RUNS ?? 10_000),
): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  for (const stats of [...(await fuzzAgent(numRuns)), ...(await fuzzController(numRuns))]) {
    process.stdout.write(`  ${describeStats(stats)}\n`);
    const fiveHundreds = Object.entries(stats.statuses)
      .filter(([status]) => Number(status) >= 500)
      .reduce((n, [, c]) => n + c, 0);
    results.push({
      name: `fuzz ${stats.target}`,
      value: `${stats.cases} cases, ${fiveHundreds} 5xx, ${(stats.cases / (stats.ms / 1000)).toFixed(0)} cases/s`,
      reference: `${numRuns} cases required`,
      ratio: stats.cases / numRuns,
      goal: "≥ 1× the cases, 0 violations",
      met: stats.cases >= numRuns && fiveHundreds === 0,
    });
  }
  return results;
}
