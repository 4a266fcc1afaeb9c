/**
 * The security settings of issue 10 hold in both rendered overlays, and each rule bites: removing
 * any one setting from a rendered copy makes the check report it.
 */
import { describe, expect, it } from "vitest";
import { find, type K8sObject, OVERLAYS, render } from "./render.js";
import { allContainers, isAgent, securityProblems } from "./security-rules.js";

describe.each(OVERLAYS)("overlays/%s", (environment) => {
  it("holds every security setting in every pod and container", () => {
    expect(securityProblems(render(environment), environment)).toEqual([]);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: mutations poke at plain rendered data
type Json = any;
const controllerPod = (o: K8sObject[]): Json =>
  find(o, "Deployment", "keyhole-controller").spec.template.spec;
const workloadPod = (o: K8sObject[]): Json => find(o, "StatefulSet", "payments").spec.template.spec;
const agent = (o: K8sObject[]): Json => allContainers(workloadPod(o)).find(isAgent);
const app = (o: K8sObject[]): Json => allContainers(workloadPod(o)).find((c: Json) => !isAgent(c));
const controller = (o: K8sObject[]): Json => controllerPod(o).containers[0];
const agentPolicy = (o: K8sObject[]): Json => find(o, "NetworkPolicy", "keyhole-agent-ingress").spec;
const policy = (o: K8sObject[], name: string): Json => find(o, "NetworkPolicy", name).spec;
const remove = (o: K8sObject[], name: string) => o.splice(o.indexOf(find(o, "NetworkPolicy", name)), 1);
const env = (c: Json, name: string): Json => c.env.find((e: Json) => e.name === name);

const mutations: [string, (o: K8sObject[]) => void][] = [
  [
    "controller readOnlyRootFilesystem removed",
    (o) => delete controller(o).securityContext.readOnlyRootFilesystem,
  ],
  ["agent readOnlyRootFilesystem false", (o) => (agent(o).securityContext.readOnlyRootFilesystem = false)],
  ["app allowPrivilegeEscalation removed", (o) => delete app(o).securityContext.allowPrivilegeEscalation],
  ["agent capabilities no longer drop ALL", (o) => (agent(o).securityContext.capabilities.drop = [])],
  ["agent adds SYS_PTRACE", (o) => (agent(o).securityContext.capabilities.add = ["SYS_PTRACE"])],
  ["controller privileged", (o) => (controller(o).securityContext.privileged = true)],
  [
    "controller seccomp Unconfined",
    (o) => (controller(o).securityContext.seccompProfile.type = "Unconfined"),
  ],
  ["workload pod seccomp removed", (o) => delete workloadPod(o).securityContext.seccompProfile],
  ["controller pod runAsNonRoot removed", (o) => delete controllerPod(o).securityContext.runAsNonRoot],
  ["agent runs as root", (o) => (agent(o).securityContext.runAsUser = 0)],
  ["controller memory limit removed", (o) => delete controller(o).resources.limits.memory],
  ["agent cpu request removed", (o) => delete agent(o).resources.requests.cpu],
  ["workload hostPID", (o) => (workloadPod(o).hostPID = true)],
  ["controller mounts a service account token", (o) => delete controllerPod(o).automountServiceAccountToken],
  ["no shared PID namespace", (o) => (workloadPod(o).shareProcessNamespace = false)],
  ["agent under another uid than the workload", (o) => (agent(o).securityContext.runAsUser = 10002)],
  ["agent id without the pod name", (o) => (env(agent(o), "KEYHOLE_ID").value = "$(POD_NAMESPACE)/payments")],
  ["agent environment hard-coded", (o) => (env(agent(o), "KEYHOLE_ENVIRONMENT").valueFrom = undefined)],
  ["agent id used before its parts are defined", (o) => agent(o).env.reverse()],
  [
    "agent JWKS from a file of no ConfigMap",
    (o) => (env(agent(o), "KEYHOLE_TRUSTED_KEYS").value = "/etc/keyhole/jwks/other.json"),
  ],
  [
    "log volume writable by the agent",
    (o) => (agent(o).volumeMounts.find((m: Json) => m.mountPath === "/var/log/app").readOnly = false),
  ],
  ["agent temp dir on the root filesystem", (o) => (env(agent(o), "TMPDIR").value = "/var/tmp")],
  ["NetworkPolicy removed", (o) => o.splice(o.indexOf(find(o, "NetworkPolicy", "keyhole-agent-ingress")), 1)],
  ["ingress from every source", (o) => delete agentPolicy(o).ingress[0].from],
  ["ingress from every namespace", (o) => (agentPolicy(o).ingress[0].from[0].namespaceSelector = {})],
  [
    "ingress from an IP block",
    (o) => agentPolicy(o).ingress[0].from.push({ ipBlock: { cidr: "0.0.0.0/0" } }),
  ],
  ["ingress on every port", (o) => delete agentPolicy(o).ingress[0].ports],
  [
    "ingress on another port too",
    (o) => agentPolicy(o).ingress[0].ports.push({ protocol: "TCP", port: 8080 }),
  ],
  ["a second policy opening the agent pods", (o) => o.push(openPolicy())],
  // Issue 21: egress for every part, and TLS on every hop.
  [
    "agent egress policies removed",
    (o) => {
      remove(o, "keyhole-agent-egress");
      remove(o, "keyhole-agent-egress-object-store");
    },
  ],
  ["agent egress to every destination", (o) => delete policy(o, "keyhole-agent-egress").egress[0].to],
  [
    "agent egress to the controller on every port",
    (o) => delete policy(o, "keyhole-agent-egress").egress[0].ports,
  ],
  [
    "agent egress to the whole internet on 443",
    (o) => (policy(o, "keyhole-agent-egress-object-store").egress[0].to[0].ipBlock.cidr = "0.0.0.0/0"),
  ],
  [
    "agent egress to the object store range on another port",
    (o) => policy(o, "keyhole-agent-egress-object-store").egress[0].ports.push({ protocol: "TCP", port: 22 }),
  ],
  [
    "agent egress to the database",
    (o) =>
      policy(o, "keyhole-agent-egress").egress.push(policy(o, "keyhole-controller-egress-stores").egress[0]),
  ],
  ["controller ingress policy removed", (o) => remove(o, "keyhole-controller-ingress")],
  [
    "controller ingress on another port",
    (o) => policy(o, "keyhole-controller-ingress").ingress[0].ports.push({ protocol: "TCP", port: 9229 }),
  ],
  [
    "controller egress policies removed",
    (o) => {
      remove(o, "keyhole-controller-egress");
      remove(o, "keyhole-controller-egress-stores");
    },
  ],
  [
    "controller egress to any pod in any namespace",
    (o) => (policy(o, "keyhole-controller-egress").egress[0].to[0] = { namespaceSelector: {} }),
  ],
  [
    "controller egress to a /0 with an exception",
    (o) =>
      (policy(o, "keyhole-controller-egress-stores").egress[0].to[0].ipBlock = {
        cidr: "0.0.0.0/0",
        except: ["10.0.0.0/8"],
      }),
  ],
  [
    "agent serves plain HTTP",
    (o) => agent(o).env.splice(agent(o).env.indexOf(env(agent(o), "KEYHOLE_TLS_CERT")), 1),
  ],
  [
    "agent without mutual TLS",
    (o) => agent(o).env.splice(agent(o).env.indexOf(env(agent(o), "KEYHOLE_CLIENT_CA")), 1),
  ],
  [
    "agent TLS key from a file of no mounted Secret",
    (o) => (env(agent(o), "KEYHOLE_TLS_KEY").value = "/tmp/tls.key"),
  ],
  [
    "agent TLS Secret of another environment",
    (o) =>
      (workloadPod(o).volumes.find((v: Json) => v.name === "keyhole-tls").secret.secretName =
        "keyhole-staging-agent-tls"),
  ],
  ["agent probe over plain HTTP", (o) => delete agent(o).livenessProbe.httpGet.scheme],
  ["controller API over plain HTTP", (o) => (env(controller(o), "KEYHOLE_TLS_CERT").value = undefined)],
  [
    "controller trusts the system roots for agents",
    (o) => controller(o).env.splice(controller(o).env.indexOf(env(controller(o), "KEYHOLE_AGENT_CA")), 1),
  ],
  [
    "controller without a client certificate",
    (o) => controller(o).env.splice(controller(o).env.indexOf(env(controller(o), "KEYHOLE_CLIENT_CERT")), 1),
  ],
  [
    "controller readiness probe over plain HTTP",
    (o) => (controller(o).readinessProbe.httpGet.scheme = "HTTP"),
  ],
];

function openPolicy(): K8sObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: "allow-all" },
    spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{}] },
  };
}

describe("each rule bites", () => {
  it.each(mutations)("%s is reported", (_, mutate) => {
    const objects = structuredClone(render("production"));
    mutate(objects);
    expect(securityProblems(objects, "production")).not.toEqual([]);
  });

  it("the staging output checked as production is reported (environment label, JWKS)", () => {
    expect(securityProblems(render("staging"), "production")).not.toEqual([]);
  });
});
