/**
 * Offline validation against the Kubernetes API schemas, through the `kubernetes-models` package
 * (its models carry validators generated from the API's OpenAPI document), and cert-manager's
 * resources through `@kubernetes-models/cert-manager` (generated from its CRDs). Its validators check
 * types, required fields, enums and formats such as quantities; they do not refuse unknown fields,
 * which is why the security rules check the fields that matter by name.
 */
import type { K8sObject } from "./render.js";

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** Validates one object; throws naming the object and every schema violation. */
export async function validateAgainstSchema(object: K8sObject): Promise<void> {
  // cert-manager's resources (overlays/*/certificates) from its own models package.
  const specifier = object.apiVersion.startsWith("cert-manager.io/")
    ? `@kubernetes-models/cert-manager/${object.apiVersion}/${object.kind}`
    : `kubernetes-models/${object.apiVersion}/${object.kind}`;
  let module: Record<string, ModelClass | undefined>;
  try {
    module = (await import(specifier)) as Record<string, ModelClass | undefined>;
  } catch (err) {
    throw new Error(`no schema for ${object.apiVersion} ${object.kind} (${specifier})`, { cause: err });
  }
  const Model = module[object.kind];
  if (!Model) throw new Error(`${specifier} exports no ${object.kind} model`);
  try {
    new Model(object).validate();
  } catch (err) {
    throw new Error(`${object.kind}/${object.metadata.name}: ${(err as Error).message}`, { cause: err });
  }
}
