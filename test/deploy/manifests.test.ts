/**
 * deploy/kubernetes: the files parse, both overlays render with `kubectl kustomize`, every
 * rendered object matches the Kubernetes API schemas, and the pieces fit together (references,
 * the controller's own policy and inventory loaders, per-environment keys).
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseInventory } from "../../controller/inventory/load-inventory.js";
import { parsePolicy } from "../../controller/policy/load-policy.js";
import {
  find,
  type K8sObject,
  KUBERNETES_DIR,
  OVERLAYS,
  parseYamlDocuments,
  render,
  renderCertificates,
} from "./render.js";
import { validateAgainstSchema } from "./schemas.js";
import { allContainers, podSpecs } from "./security-rules.js";

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

const controllerEnv = (objects: K8sObject[], name: string) =>
  find(objects, "Deployment", "keyhole-controller").spec.template.spec.containers[0].env.find(
    (e: { name: string }) => e.name === name,
  );

/** The names of Secrets and ConfigMaps the pod templates refer to. */
function references(objects: K8sObject[]): { secrets: Set<string>; configMaps: Set<string> } {
  const secrets = new Set<string>();
  const configMaps = new Set<string>();
  for (const { spec } of podSpecs(objects)) {
    for (const v of spec.volumes ?? []) {
      if (v.secret) secrets.add(v.secret.secretName);
      if (v.configMap) configMaps.add(v.configMap.name);
    }
    for (const c of allContainers(spec)) {
      for (const e of c.env ?? []) {
        if (e.valueFrom?.secretKeyRef) secrets.add(e.valueFrom.secretKeyRef.name);
        if (e.valueFrom?.configMapKeyRef) configMaps.add(e.valueFrom.configMapKeyRef.name);
      }
    }
  }
  return { secrets, configMaps };
}

describe("the files under deploy/kubernetes", () => {
  const files = filesUnder(KUBERNETES_DIR);

  it.each(files.filter((f) => f.endsWith(".yaml")))("%s parses as YAML", (file) => {
    expect(parseYamlDocuments(readFileSync(file, "utf8"), file).length).toBeGreaterThan(0);
  });

  it.each(files.filter((f) => f.endsWith(".json")))("%s is a JWKS of public keys only", (file) => {
    const jwks = JSON.parse(readFileSync(file, "utf8")) as { keys: Record<string, unknown>[] };
    expect(Array.isArray(jwks.keys)).toBe(true);
    for (const key of jwks.keys) expect(key).not.toHaveProperty("d");
  });
});

it("the schema check refuses what the API server would", async () => {
  const [deployment] = render("production").filter((o) => o.kind === "Deployment");
  const broken = structuredClone(deployment!);
  broken.spec.template.spec.containers[0].ports[0].containerPort = "7400";
  broken.spec.template.spec.containers[0].resources.limits.memory = "a lot";
  await expect(validateAgainstSchema(broken)).rejects.toThrow(/containerPort must be integer/);
  await expect(validateAgainstSchema({ ...deployment!, kind: "Deploymnet" })).rejects.toThrow(/no schema/);
});

describe.each(OVERLAYS)("overlays/%s", (environment) => {
  const namespace = `keyhole-${environment}`;

  it("renders with kubectl kustomize, every object valid against the Kubernetes API schemas", async () => {
    const objects = render(environment);
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        "ConfigMap",
        "ConfigMap",
        "Deployment",
        "Namespace",
        // Agents: ingress, egress, egress to the object store; controller: ingress, egress, egress to the stores.
        ...Array(6).fill("NetworkPolicy"),
        "PodDisruptionBudget",
        "Service",
        "Service",
        "StatefulSet",
      ].sort(),
    );
    for (const object of objects) await validateAgainstSchema(object);
  });

  it("puts everything in the environment's namespace, where the restricted Pod Security Standard holds", () => {
    for (const o of render(environment)) {
      if (o.kind === "Namespace") expect(o.metadata.name).toBe(namespace);
      else expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(namespace);
    }
    const ns = find(render(environment), "Namespace", namespace);
    expect(ns.metadata.labels).toMatchObject({
      "keyhole.dev/environment": environment,
      "pod-security.kubernetes.io/enforce": "restricted",
    });
  });

  it("refers only to rendered ConfigMaps and to this environment's out-of-band Secrets", () => {
    const objects = render(environment);
    const { secrets, configMaps } = references(objects);
    const rendered = new Set(objects.filter((o) => o.kind === "ConfigMap").map((o) => o.metadata.name));
    for (const name of configMaps) expect(rendered.has(name), `ConfigMap ${name}`).toBe(true);
    expect([...secrets].sort()).toEqual(
      [
        `keyhole-${environment}-audit-key`,
        `keyhole-${environment}-database`,
        `keyhole-${environment}-fingerprint-key`,
        `keyhole-${environment}-signing-key`,
        `keyhole-${environment}-agent-tls`,
        `keyhole-${environment}-controller-tls`,
        `keyhole-${environment}-controller-client-tls`,
      ].sort(),
    );
  });

  it("runs two controllers on the database URL from a Secret, signing with this environment's key", () => {
    const objects = render(environment);
    const deployment = find(objects, "Deployment", "keyhole-controller");
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(controllerEnv(objects, "KEYHOLE_DATABASE").valueFrom.secretKeyRef).toEqual({
      name: `keyhole-${environment}-database`,
      key: "url",
    });
    expect(controllerEnv(objects, "KEYHOLE_SIGNING_KEY").value).toBe(
      `${environment}=/etc/keyhole/signing-key/signing-key.pem`,
    );
    // One audit key for every replica and restart, from this environment's Secret.
    expect(controllerEnv(objects, "KEYHOLE_AUDIT_KEY").value).toBe("/etc/keyhole/audit-key/signing-key.pem");
    const auditVolume = deployment.spec.template.spec.volumes.find(
      (v: { name: string }) => v.name === "audit-key",
    );
    expect(auditVolume.secret.secretName).toBe(`keyhole-${environment}-audit-key`);
    const container = deployment.spec.template.spec.containers[0];
    expect(container.args).toEqual(["controller"]);
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe.httpGet).toEqual({ path: "/healthz", port: "https", scheme: "HTTPS" });
    }
    const labels = deployment.spec.template.metadata.labels;
    const pdb = find(objects, "PodDisruptionBudget", "keyhole-controller");
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(labels).toMatchObject(pdb.spec.selector.matchLabels);
    expect(labels).toMatchObject(find(objects, "Service", "keyhole-controller").spec.selector);
  });

  it("gives the controller a policy and inventory its own loaders accept, for this environment only", () => {
    const objects = render(environment);
    const config = objects.find((o) => o.metadata.name.startsWith("keyhole-controller-config"))!;
    const policy = parsePolicy(config.data["policy.yaml"], "policy.yaml");
    expect([...policy.environments.keys()]).toEqual([environment]);
    const inventory = parseInventory(config.data["inventory.yaml"], "inventory.yaml", policy);

    // Each StatefulSet pod's agent id and DNS name, as the agent and the headless Service make them.
    const workload = find(objects, "StatefulSet", "payments");
    const expected = Array.from({ length: workload.spec.replicas }, (_, i) => ({
      id: `${environment}/${namespace}/payments-${i}`,
      url: `https://payments-${i}.${workload.spec.serviceName}.${namespace}.svc.cluster.local:7070`,
      environment,
    }));
    expect(
      [...inventory.agents.values()].map(({ id, url, environment }) => ({ id, url, environment })),
    ).toEqual(expected);
    expect(find(objects, "Service", workload.spec.serviceName).spec.clusterIP).toBe("None");
  });
});

describe.each(OVERLAYS)("overlays/%s/certificates", (environment) => {
  const namespace = `keyhole-${environment}`;

  it("renders cert-manager resources valid against cert-manager's schemas, in the namespace", async () => {
    const objects = renderCertificates(environment);
    expect(objects.map((o) => o.kind).sort()).toEqual([
      "Certificate",
      "Certificate",
      "Certificate",
      "Issuer",
    ]);
    for (const object of objects) {
      await validateAgainstSchema(object);
      expect(object.metadata.namespace).toBe(namespace);
    }
  });

  it("makes exactly the TLS Secrets the overlay mounts, from this environment's CA", () => {
    const certificates = renderCertificates(environment).filter((o) => o.kind === "Certificate");
    const { secrets } = references(render(environment));
    const tlsSecrets = [...secrets].filter((s) => s.endsWith("-tls")).sort();
    expect(certificates.map((c) => c.spec.secretName).sort()).toEqual(tlsSecrets);
    const issuer = find(renderCertificates(environment), "Issuer", `keyhole-${environment}-ca`);
    expect(issuer.spec.ca.secretName).toBe(`keyhole-${environment}-ca`);
    for (const c of certificates)
      expect(c.spec.issuerRef).toEqual({ name: issuer.metadata.name, kind: "Issuer" });
  });

  it("names every inventory host in the agents' certificate and the Service in the controller's; each for one use", () => {
    const objects = render(environment);
    const certificates = renderCertificates(environment);
    const config = objects.find((o) => o.metadata.name.startsWith("keyhole-controller-config"))!;
    const policy = parsePolicy(config.data["policy.yaml"], "policy.yaml");
    const inventory = parseInventory(config.data["inventory.yaml"], "inventory.yaml", policy);
    const agent = find(certificates, "Certificate", `keyhole-${environment}-agent-tls`).spec;
    const covers = (names: string[], host: string) =>
      names.some((n) => n === host || (n.startsWith("*.") && host.slice(host.indexOf(".")) === n.slice(1)));
    for (const { url = "" } of inventory.agents.values()) {
      expect(new URL(url).protocol).toBe("https:");
      expect(covers(agent.dnsNames, new URL(url).hostname), url).toBe(true);
    }
    expect(agent.usages).toEqual(["server auth"]);
    const api = find(certificates, "Certificate", `keyhole-${environment}-controller-tls`).spec;
    const service = find(objects, "Service", "keyhole-controller");
    expect(api.dnsNames).toContain(`${service.metadata.name}.${namespace}.svc`);
    expect(api.usages).toEqual(["server auth"]);
    const client = find(certificates, "Certificate", `keyhole-${environment}-controller-client-tls`).spec;
    expect(client.usages).toEqual(["client auth"]);
  });
});

it("staging and production use different namespaces, keys, JWKS and databases", () => {
  const [staging, production] = OVERLAYS.map((o) => render(o));
  const names = (objects: K8sObject[]) => {
    const { secrets, configMaps } = references(objects);
    return [...secrets, ...configMaps, objects.find((o) => o.kind === "Namespace")!.metadata.name];
  };
  const shared = names(staging!).filter((n) => names(production!).includes(n));
  expect(shared).toEqual([]);
});
