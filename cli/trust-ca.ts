/**
 * KEYHOLE_CA: a PEM file of CA certificates the CLI trusts for the controller's HTTPS, on top of the
 * system's roots (a controller serving a certificate of a private CA, docs/operations.md "TLS").
 * NODE_EXTRA_CA_CERTS does the same for any Node process, but is read only once at process start;
 * KEYHOLE_CA sits beside KEYHOLE_URL and KEYHOLE_TOKEN and is checked with a clear error.
 */
import { readFileSync } from "node:fs";
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import { CliError } from "./errors.js";

let applied: string | undefined;

/** Adds the certificates of `env.KEYHOLE_CA` to the process's default CAs (once per file). */
export function trustCaFromEnv(env: NodeJS.ProcessEnv): void {
  const file = env.KEYHOLE_CA;
  if (!file || applied === file) return;
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new CliError(
      `KEYHOLE_CA: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      2,
      "KH_USAGE",
    );
  }
  const certificates = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (certificates.length === 0)
    throw new CliError(`KEYHOLE_CA: ${file} holds no PEM certificate`, 2, "KH_USAGE");
  try {
    setDefaultCACertificates([...getCACertificates("default"), ...certificates]);
  } catch (err) {
    throw new CliError(`KEYHOLE_CA: ${file}: ${(err as Error).message}`, 2, "KH_USAGE");
  }
  applied = file;
}
