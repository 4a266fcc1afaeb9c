/**
 * The security settings issue 10 requires of the rendered manifests, as one pure function that
 * lists every violation. Pure so that the tests can also prove each rule bites: they remove a
 * setting from a rendered copy and expect a problem.
 */
import type { K8sObject } from "./render.js";

export const AGENT_PORT = 7070;
export const CONTROLLER_PORT = 7400;
export const CONTROLLER_LABELS = { "app.kubernetes.io/name": "keyhole-controller" } as const;
export const AGENT_LABELS = { "keyhole.dev/agent": "true" } as const;
/** The object store (S3, presigned uploads and the controller's client) and PostgreSQL. */
const OBJECT_STORE_PORT = 443;
const DATABASE_PORT = 5432;

// biome-ignore lint/suspicious/noExplicitAny: pod specs are walked as plain data
type Json = any;

/** Every pod template in the output, with a name to report it by. */
export function podSpecs(objects: readonly K8sObject[]): { where: string; labels: Json; spec: Json }[] {
  const pods = [];
  for (const o of objects) {
    const where = `${o.kind}/${o.metadata.name}`;
    if (o.kind === "Pod") pods.push({ where, labels: o.metadata.labels ?? {}, spec: o.spec });
    else if (o.kind === "CronJob") {
      const t = o.spec?.jobTemplate?.spec?.template;
      pods.push({ where, labels: t?.metadata?.labels ?? {}, spec: t?.spec });
    } else if (o.spec?.template?.spec) {
      pods.push({ where, labels: o.spec.template.metadata?.labels ?? {}, spec: o.spec.template.spec });
    }
  }
  return pods;
}

export function allContainers(spec: Json): Json[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? [])];
}

/** The agent sidecar is the container started with the `agent` subcommand. */
export function isAgent(container: Json): boolean {
  return (container.args ?? [])[0] === "agent";
}

function matches(selector: Json, labels: Json): boolean {
  const wanted = Object.entries(selector?.matchLabels ?? {});
  if (selector?.matchExpressions?.length) return false; // not used here; treat as unknown
  return wanted.every(([k, v]) => labels[k] === v);
}

/** The container's effective value: its own securityContext wins over the pod's. */
function effective(spec: Json, container: Json, field: string): Json {
  return container.securityContext?.[field] ?? spec.securityContext?.[field];
}

function checkContainer(where: string, spec: Json, c: Json, problems: string[]): void {
  const at = `${where} container ${c.name}`;
  const sc = c.securityContext ?? {};
  if (effective(spec, c, "runAsNonRoot") !== true) problems.push(`${at}: runAsNonRoot is not true`);
  const uid = effective(spec, c, "runAsUser");
  if (typeof uid !== "number" || uid === 0) problems.push(`${at}: runAsUser must be a non-zero uid`);
  if (sc.readOnlyRootFilesystem !== true) problems.push(`${at}: readOnlyRootFilesystem is not true`);
  if (sc.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
  if (sc.privileged === true) problems.push(`${at}: privileged`);
  if (!(sc.capabilities?.drop ?? []).includes("ALL")) problems.push(`${at}: capabilities do not drop ALL`);
  if ((sc.capabilities?.add ?? []).length > 0) problems.push(`${at}: adds capabilities`);
  if (effective(spec, c, "seccompProfile")?.type !== "RuntimeDefault")
    problems.push(`${at}: seccomp profile is not RuntimeDefault`);
  for (const kind of ["requests", "limits"] as const) {
    for (const resource of ["cpu", "memory"]) {
      if (c.resources?.[kind]?.[resource] === undefined) problems.push(`${at}: no ${kind}.${resource}`);
    }
  }
}

function envValue(c: Json, name: string): Json {
  return (c.env ?? []).find((e: Json) => e.name === name);
}

function checkAgentPod(
  where: string,
  labels: Json,
  spec: Json,
  objects: readonly K8sObject[],
  environment: string,
  problems: string[],
): void {
  const containers = allContainers(spec);
  const agent = containers.find(isAgent);
  const at = `${where} agent`;
  if (spec.shareProcessNamespace !== true) problems.push(`${where}: shareProcessNamespace is not true`);
  for (const other of containers.filter((c) => !isAgent(c))) {
    for (const field of ["runAsUser", "runAsGroup"]) {
      if (effective(spec, agent, field) !== effective(spec, other, field))
        problems.push(
          `${at}: ${field} differs from container ${other.name} (it must run as the workload's user)`,
        );
    }
  }
  if (labels["keyhole.dev/environment"] !== environment)
    problems.push(`${where}: label keyhole.dev/environment is not "${environment}"`);

  // Every $(VAR) must be defined before it is used, or Kubernetes leaves it unexpanded.
  const defined = new Set<string>();
  for (const e of agent.env ?? []) {
    for (const [, ref] of String(e.value ?? "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
      if (!defined.has(ref!)) problems.push(`${at}: ${e.name} uses $(${ref}) before it is defined`);
    }
    defined.add(e.name);
  }
  const field = (name: string) => envValue(agent, name)?.valueFrom?.fieldRef?.fieldPath;
  const id = envValue(agent, "KEYHOLE_ID")?.value ?? "";
  if (!(id.includes("$(POD_NAME)") && field("POD_NAME") === "metadata.name"))
    problems.push(`${at}: KEYHOLE_ID does not carry the pod name from the Downward API`);
  if (!(id.includes("$(POD_NAMESPACE)") && field("POD_NAMESPACE") === "metadata.namespace"))
    problems.push(`${at}: KEYHOLE_ID does not carry the namespace from the Downward API`);
  if (field("KEYHOLE_ENVIRONMENT") !== "metadata.labels['keyhole.dev/environment']")
    problems.push(`${at}: KEYHOLE_ENVIRONMENT does not come from the environment label`);

  const mountOf = (path: string) =>
    (agent.volumeMounts ?? []).find((m: Json) => path === m.mountPath || path.startsWith(`${m.mountPath}/`));
  const volume = (name: string) => (spec.volumes ?? []).find((v: Json) => v.name === name);

  // The pinned JWKS: a file of a ConfigMap that is part of the same output.
  const jwksPath = envValue(agent, "KEYHOLE_TRUSTED_KEYS")?.value ?? "";
  const jwksMount = mountOf(jwksPath);
  const jwksMap = jwksMount && volume(jwksMount.name)?.configMap?.name;
  const configMap = objects.find((o) => o.kind === "ConfigMap" && o.metadata.name === jwksMap);
  const jwksFile = jwksPath.slice((jwksMount?.mountPath ?? "").length + 1);
  if (!configMap?.data?.[jwksFile])
    problems.push(`${at}: KEYHOLE_TRUSTED_KEYS is not a file of a rendered ConfigMap`);
  else if (!configMap.metadata.name.startsWith(`keyhole-${environment}-jwks`))
    problems.push(`${at}: the JWKS ConfigMap ${configMap.metadata.name} is not the ${environment} one`);

  // Log roots: mounted read-only here and shared with a workload container.
  const roots = String(envValue(agent, "KEYHOLE_LOG_ROOT")?.value ?? "")
    .split(/[,:]/)
    .filter(Boolean);
  if (roots.length === 0) problems.push(`${at}: no KEYHOLE_LOG_ROOT`);
  for (const root of roots) {
    const mount = mountOf(root);
    if (mount?.readOnly !== true) problems.push(`${at}: log root ${root} is not mounted read-only`);
    const shared = containers.some(
      (c) => !isAgent(c) && (c.volumeMounts ?? []).some((m: Json) => m.name === mount?.name),
    );
    if (!shared) problems.push(`${at}: log root ${root} is not a volume of the workload`);
  }
  // Temp files go to an emptyDir: the root filesystem is read-only.
  const tmp = mountOf(envValue(agent, "TMPDIR")?.value ?? "");
  if (!tmp || !volume(tmp.name)?.emptyDir) problems.push(`${at}: TMPDIR is not an emptyDir mount`);

  const ports = (agent.ports ?? []).map((p: Json) => p.containerPort);
  if (ports.join() !== String(AGENT_PORT))
    problems.push(`${at}: listens on ${ports.join()} not ${AGENT_PORT}`);
  checkAgentIngress(where, labels, objects, problems);
  checkEgress(where, labels, objects, problems, "agent", [
    { peers: CONTROLLER_LABELS, ports: [CONTROLLER_PORT] },
    { ipBlocks: true, ports: [OBJECT_STORE_PORT] },
  ]);
  checkTlsFiles(at, spec, agent, environment, problems, {
    KEYHOLE_TLS_CERT: "tls.crt",
    KEYHOLE_TLS_KEY: "tls.key",
    KEYHOLE_CLIENT_CA: "ca.crt",
  });
  if (agent.livenessProbe?.httpGet?.scheme !== "HTTPS")
    problems.push(`${at}: the liveness probe does not use HTTPS (the agent serves only TLS)`);
}

/** A controller pod: its network both ways, and TLS on its API and towards the agents. */
function checkControllerPod(
  where: string,
  labels: Json,
  spec: Json,
  objects: readonly K8sObject[],
  environment: string,
  problems: string[],
): void {
  const controller = spec.containers[0];
  const at = `${where} controller`;
  const ingress = policiesFor(objects, labels, "Ingress");
  if (ingress.length === 0) problems.push(`${where}: no NetworkPolicy restricts ingress to the controller`);
  for (const p of ingress) {
    for (const rule of p.spec.ingress ?? []) {
      if (!onlyPorts(rule, [CONTROLLER_PORT], ["TCP"]))
        problems.push(`NetworkPolicy/${p.metadata.name}: admits ports other than TCP ${CONTROLLER_PORT}`);
    }
  }
  checkEgress(where, labels, objects, problems, "controller", [
    { peers: AGENT_LABELS, ports: [AGENT_PORT] },
    { ipBlocks: true, ports: [DATABASE_PORT, OBJECT_STORE_PORT] },
  ]);
  checkTlsFiles(at, spec, controller, environment, problems, {
    KEYHOLE_TLS_CERT: "tls.crt",
    KEYHOLE_TLS_KEY: "tls.key",
    KEYHOLE_AGENT_CA: "ca.crt",
    KEYHOLE_CLIENT_CERT: "tls.crt",
    KEYHOLE_CLIENT_KEY: "tls.key",
  });
  for (const probe of ["readinessProbe", "livenessProbe"]) {
    if (controller[probe]?.httpGet?.scheme !== "HTTPS")
      problems.push(`${at}: the ${probe} does not use HTTPS (the API serves only TLS)`);
  }
}

/** Network policies of `type` that select pods carrying `labels`. */
function policiesFor(objects: readonly K8sObject[], labels: Json, type: "Ingress" | "Egress"): K8sObject[] {
  return objects.filter(
    (o) =>
      o.kind === "NetworkPolicy" &&
      matches(o.spec?.podSelector, labels) &&
      (o.spec.policyTypes ?? []).includes(type),
  );
}

/** Every port of `rule` is one of `ports` over one of `protocols` (a rule without ports admits all). */
function onlyPorts(rule: Json, ports: readonly number[], protocols: readonly string[]): boolean {
  const listed = rule.ports ?? [];
  return (
    listed.length > 0 &&
    listed.every(
      (p: Json) =>
        ports.includes(p.port) && protocols.includes(p.protocol ?? "TCP") && p.endPort === undefined,
    )
  );
}

/** The cluster DNS: kube-dns pods in kube-system, on port 53. */
function isDnsRule(rule: Json): boolean {
  const to = rule.to ?? [];
  return (
    to.length > 0 &&
    to.every(
      (peer: Json) =>
        peer.ipBlock === undefined &&
        peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === "kube-system" &&
        peer.podSelector?.matchLabels?.["k8s-app"] === "kube-dns",
    ) &&
    onlyPorts(rule, [53], ["UDP", "TCP"])
  );
}

/** Pods of this namespace carrying `labels`, and nothing else. */
function onlyPods(rule: Json, labels: Record<string, string>): boolean {
  const to = rule.to ?? [];
  return (
    to.length > 0 &&
    to.every(
      (peer: Json) =>
        peer.ipBlock === undefined &&
        peer.namespaceSelector === undefined &&
        Object.entries(labels).every(([k, v]) => peer.podSelector?.matchLabels?.[k] === v),
    )
  );
}

/** Address ranges narrower than a /8 (IPv4) or /32 (IPv6), without exceptions carved out of wider ones. */
function onlyNarrowIpBlocks(rule: Json): boolean {
  const to = rule.to ?? [];
  return (
    to.length > 0 &&
    to.every((peer: Json) => {
      if (!peer.ipBlock || peer.podSelector || peer.namespaceSelector) return false;
      const [address = "", prefix = ""] = String(peer.ipBlock.cidr).split("/");
      return Number(prefix) >= (address.includes(":") ? 32 : 8) && peer.ipBlock.except === undefined;
    })
  );
}

/** Where an egress rule may go: pods with these labels, or narrow address ranges; on these TCP ports. */
type EgressAllowance = ({ peers: Record<string, string> } | { ipBlocks: true }) & {
  ports: readonly number[];
};

/**
 * Every egress rule reaching `who`'s pods is the cluster DNS or one of `allowed` (pods with those
 * labels, or narrow address ranges, on those ports only); there is at least one egress policy.
 */
function checkEgress(
  where: string,
  labels: Json,
  objects: readonly K8sObject[],
  problems: string[],
  who: string,
  allowed: readonly EgressAllowance[],
): void {
  const policies = policiesFor(objects, labels, "Egress");
  if (policies.length === 0) problems.push(`${where}: no NetworkPolicy restricts egress from the ${who}`);
  for (const p of policies) {
    for (const rule of p.spec.egress ?? []) {
      const at = `NetworkPolicy/${p.metadata.name}`;
      if ((rule.to ?? []).length === 0) {
        problems.push(`${at}: an egress rule admits every destination`);
        continue;
      }
      const fits =
        isDnsRule(rule) ||
        allowed.some(
          (a) =>
            onlyPorts(rule, a.ports, ["TCP"]) &&
            ("peers" in a ? onlyPods(rule, a.peers) : onlyNarrowIpBlocks(rule)),
        );
      if (!fits) problems.push(`${at}: an egress rule lets the ${who} reach more than it needs`);
    }
  }
}

/**
 * Each variable names a file of a Secret volume mounted read-only in `container`, the Secret being
 * this environment's and the file the key cert-manager writes (`tls.crt`, `tls.key`, `ca.crt`).
 */
function checkTlsFiles(
  at: string,
  spec: Json,
  container: Json,
  environment: string,
  problems: string[],
  files: Record<string, string>,
): void {
  for (const [name, key] of Object.entries(files)) {
    const path: string = envValue(container, name)?.value ?? "";
    const mount = (container.volumeMounts ?? []).find((m: Json) => path === `${m.mountPath}/${key}`);
    const secret = mount && (spec.volumes ?? []).find((v: Json) => v.name === mount.name)?.secret;
    if (!path) problems.push(`${at}: no ${name} (TLS is off)`);
    else if (!secret) problems.push(`${at}: ${name} is not the ${key} of a mounted Secret`);
    else if (mount.readOnly !== true) problems.push(`${at}: the Secret of ${name} is mounted writable`);
    else if (!String(secret.secretName).startsWith(`keyhole-${environment}-`))
      problems.push(`${at}: ${name} comes from ${secret.secretName}, not a ${environment} Secret`);
  }
}

/** Every ingress rule that reaches an agent pod comes from the controller's pods, on the agent port only. */
function checkAgentIngress(
  where: string,
  labels: Json,
  objects: readonly K8sObject[],
  problems: string[],
): void {
  const policies = objects.filter((o) => o.kind === "NetworkPolicy" && matches(o.spec?.podSelector, labels));
  if (!policies.some((p) => (p.spec.policyTypes ?? []).includes("Ingress")))
    problems.push(`${where}: no NetworkPolicy restricts ingress to the agent`);
  for (const p of policies) {
    for (const rule of p.spec.ingress ?? []) {
      const at = `NetworkPolicy/${p.metadata.name}`;
      const from = rule.from ?? [];
      if (from.length === 0) problems.push(`${at}: an ingress rule admits every source`);
      for (const peer of from) {
        const onlyController =
          peer.ipBlock === undefined &&
          peer.namespaceSelector === undefined &&
          Object.entries(CONTROLLER_LABELS).every(([k, v]) => peer.podSelector?.matchLabels?.[k] === v);
        if (!onlyController) problems.push(`${at}: admits a source that is not the controller`);
      }
      const ports = rule.ports ?? [];
      const onlyAgentPort =
        ports.length > 0 &&
        ports.every(
          (port: Json) =>
            port.port === AGENT_PORT && (port.protocol ?? "TCP") === "TCP" && port.endPort === undefined,
        );
      if (!onlyAgentPort) problems.push(`${at}: admits ports other than TCP ${AGENT_PORT}`);
    }
  }
}

/** Lists every violation in one overlay's rendered output; empty means all hold. */
export function securityProblems(objects: readonly K8sObject[], environment: string): string[] {
  const problems: string[] = [];
  const pods = podSpecs(objects);
  if (pods.length === 0) problems.push("no pod templates rendered");
  for (const { where, labels, spec } of pods) {
    const sc = spec.securityContext ?? {};
    if (sc.runAsNonRoot !== true) problems.push(`${where}: pod runAsNonRoot is not true`);
    if (sc.seccompProfile?.type !== "RuntimeDefault")
      problems.push(`${where}: pod seccomp is not RuntimeDefault`);
    for (const host of ["hostPID", "hostIPC", "hostNetwork"]) {
      if (spec[host] === true) problems.push(`${where}: ${host}`);
    }
    if (spec.automountServiceAccountToken !== false)
      problems.push(`${where}: mounts a service account token`);
    for (const c of allContainers(spec)) checkContainer(where, spec, c, problems);
    if (allContainers(spec).some(isAgent)) checkAgentPod(where, labels, spec, objects, environment, problems);
    if (matches({ matchLabels: CONTROLLER_LABELS }, labels))
      checkControllerPod(where, labels, spec, objects, environment, problems);
  }
  if (!pods.some((p) => allContainers(p.spec).some(isAgent))) problems.push("no pod runs the agent");
  if (!pods.some((p) => matches({ matchLabels: CONTROLLER_LABELS }, p.labels)))
    problems.push("no pod runs the controller");
  return problems;
}
