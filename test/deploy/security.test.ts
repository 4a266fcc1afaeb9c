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
