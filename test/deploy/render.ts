/**
 * Rendering the Kustomize overlays with `kubectl kustomize` (Debian's kubernetes-client), spawned
 * without a shell, and parsing the output into plain objects.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const KUBERNETES_DIR = `${ROOT}deploy/kubernetes`;
export const OVERLAYS = ["staging", "production"] as const;
export type Overlay = (typeof OVERLAYS)[number];

/** A Kubernetes object as rendered: only the fields every object has are typed. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: the tests walk arbitrary API objects
  [field: string]: any;
}

const INSTALL_HINT =
  "kubectl is needed to render deploy/kubernetes: install Debian's kubernetes-client " +
  "(apt-get update && apt-get install -y kubernetes-client); .ci/run does this in CI";

/** Runs `kubectl kustomize DIR`; a missing kubectl fails with how to install it, never a skip. */
export function kustomize(dir: string): string {
  try {
    return execFileSync("kubectl", ["kustomize", dir], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new Error(INSTALL_HINT, { cause: err });
    throw new Error(`kubectl kustomize ${dir} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

/** Parses multi-document YAML strictly: any error or warning fails. */
export function parseYamlDocuments(text: string, source: string): unknown[] {
  return parseAllDocuments(text).map((doc, i) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${source} document ${i + 1}: ${problems[0]!.message}`);
    return doc.toJS();
  });
}

const cache = new Map<string, K8sObject[]>();

/** The overlay's rendered objects (rendered once per test file). */
export function render(overlay: Overlay): K8sObject[] {
  let objects = cache.get(overlay);
  if (!objects) {
    const dir = `${KUBERNETES_DIR}/overlays/${overlay}`;
    objects = parseYamlDocuments(kustomize(dir), dir).filter((o) => o !== null) as K8sObject[];
    cache.set(overlay, objects);
  }
  return objects;
}

/** The overlay's cert-manager resources (`overlays/<overlay>/certificates`), rendered once per test file. */
export function renderCertificates(overlay: Overlay): K8sObject[] {
  const key = `${overlay}/certificates`;
  let objects = cache.get(key);
  if (!objects) {
    const dir = `${KUBERNETES_DIR}/overlays/${key}`;
    objects = parseYamlDocuments(kustomize(dir), dir).filter((o) => o !== null) as K8sObject[];
    cache.set(key, objects);
  }
  return objects;
}

/** The one object of that kind and name; throws when it is not there. */
export function find(objects: readonly K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} in the rendered output`);
  return found;
}
