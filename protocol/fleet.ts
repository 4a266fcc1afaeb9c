/**
 * The enrollment contract between an agent and the controller (docs/fleet.md). Both import it;
 * neither owns it.
 *
 * `POST /v1/agents/enroll` with `Authorization: Bearer <enrollment token>` registers the agent and
 * answers a session secret; `POST /v1/agents/heartbeat` with `Authorization: Bearer <session>` keeps
 * it marked online. Neither carries anything the agent would refuse to show: no keys, no results.
 */
import * as z from "zod";
import { publicKeySchema } from "./answer.js";
import { canonicalJson } from "./canonical-json.js";

export const ENROLL_PATH = "/v1/agents/enroll";
export const HEARTBEAT_PATH = "/v1/agents/heartbeat";

/** A label key: `app`, `app.kubernetes.io/name`. */
export const LABEL_KEY_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
/** A label value (may be empty, as in Kubernetes). */
export const LABEL_VALUE_PATTERN = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
/** An agent carries at most this many labels. */
export const MAX_LABELS = 32;

/** Agent ids as the inventory accepts them. */
export const agentIdSchema = z
  .string()
  .max(253)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._/:-]*$/, "must be an agent id (A-Z, a-z, 0-9, ._/:-)");

export const labelsSchema = z
  .record(
    z.string().regex(LABEL_KEY_PATTERN, "must be a label key"),
    z.string().regex(LABEL_VALUE_PATTERN, "must be a label value"),
  )
  .refine((labels) => Object.keys(labels).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`);

/**
 * Why `url` cannot be an enrolled agent's URL, or undefined: an agent URL is a scheme, a host and a
 * port, nothing else (SPEC §8). A path, a query or a fragment would let an enrollment-token holder
 * point the controller's POST at any endpoint of a host (issue 23, finding 4:
 * `http://127.0.0.1:<port>/admin/internal-api?x=`), user info would make it send credentials.
 */
export function agentUrlShapeProblem(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "not a URL";
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") return "an agent URL is http or https";
  if (parsed.username !== "" || parsed.password !== "") return "an agent URL carries no user info";
  if (parsed.pathname !== "/" || /^[a-z]+:\/\/[^/]*\/./i.test(url))
    return "an agent URL carries no path (scheme://host:port only)";
  if (parsed.search !== "" || url.includes("?")) return "an agent URL carries no query";
  if (parsed.hash !== "" || url.includes("#")) return "an agent URL carries no fragment";
  return undefined;
}

export const enrollRequestSchema = z
  .strictObject({
    id: agentIdSchema,
    environment: z.string().min(1).max(63),
    /** Where the controller should reach the agent; absent means the connection's address and `port`. */
    url: z
      .url({ protocol: /^https?$/ })
      .max(2048)
      // RFC 3986's characters only: an enrolled URL is stored, shown and dialled (the attacker's second pass
      // on issue 16 enrolled one holding ESC, backticks, `|` and `<>`). A host in another script is
      // given in its punycode form, as the URL standard writes it.
      .regex(
        /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/,
        "an agent URL holds only the characters RFC 3986 allows unencoded (%-encode the rest)",
      )
      .refine((url) => agentUrlShapeProblem(url) === undefined, {
        error: (issue) => agentUrlShapeProblem(String(issue.input)) ?? "not an agent URL",
      })
      .optional(),
    /** Where the agent listens, for a URL from the connection's address; an agent on NATS listens nowhere. */
    port: z.number().int().min(1).max(65_535).optional(),
    /** How the controller reaches the agent: `http` (default, at `url` or the address and `port`) or `nats` (its subject). */
    // (No default: the proof signs the request as sent, so parsing must not add a field.)
    transport: z.enum(["http", "nats"]).optional(),
    /** The agent serves HTTPS on `port`: without `url`, the controller dials `https://<address>:<port>`. */
    tls: z.boolean().optional(),
    labels: labelsSchema.default({}),
    actions: z
      .array(z.string().regex(/^[a-z][a-z0-9-]{0,63}$/))
      .max(64)
      .default([]),
    /**
     * The agent's own Ed25519 public key (base64url of its 32 bytes), which signs its answers: pinned on
     * the first enrollment of the id (issue 21), compared on every later one.
     */
    publicKey: publicKeySchema,
    /** Proof that the enrolling agent holds that key: its signature over this very request (enrollProofInput). */
    proof: z.strictObject({
      /** When it was signed, seconds; the controller accepts ENROLL_PROOF_MAX_AGE_SECONDS either way. */
      iat: z.number().int().nonnegative(),
      signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/, "must be an Ed25519 signature in base64url"),
    }),
  })
  .superRefine((req, ctx) => {
    if (req.transport === "nats" && (req.url !== undefined || req.port !== undefined))
      ctx.addIssue({ code: "custom", path: ["transport"], message: "an agent on NATS has no url or port" });
    if (req.transport !== "nats" && req.url === undefined && req.port === undefined)
      ctx.addIssue({ code: "custom", path: ["port"], message: "an agent on HTTP gives its url or its port" });
  });
export type EnrollRequest = z.input<typeof enrollRequestSchema>;

/** How far an enrollment proof's `iat` may be from the controller's clock. */
export const ENROLL_PROOF_MAX_AGE_SECONDS = 300;

/**
 * What an agent signs to prove it holds the key it enrolls with: a fixed prefix and the canonical JSON
 * of its enrollment request without the proof, with the proof's `iat`. A token holder who copies
 * another agent's public key cannot make this signature, so it cannot enroll as that agent.
 */
export function enrollProofInput(request: Omit<EnrollRequest, "proof">, iat: number): Buffer {
  const { id, environment, url, port, labels, actions, publicKey } = request;
  return Buffer.from(
    `keyhole-enroll-v1\n${canonicalJson({ id, environment, url, port, labels: labels ?? {}, actions: actions ?? [], publicKey, iat })}`,
  );
}

export const enrollResponseSchema = z.object({
  agent: z.object({
    id: z.string(),
    environment: z.string(),
    url: z.string().optional(),
    transport: z.enum(["http", "nats"]).optional(),
  }),
  /** The agent's heartbeat credential, shown once. */
  session: z.string().min(20).max(200),
  heartbeatSeconds: z.number().int().min(1).max(3600),
});
export type EnrollResponse = z.infer<typeof enrollResponseSchema>;

export const heartbeatRequestSchema = z.strictObject({ id: agentIdSchema });

export const heartbeatResponseSchema = z.object({
  heartbeatSeconds: z.number().int().min(1).max(3600),
});
