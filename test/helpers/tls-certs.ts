/**
 * Certificates for the TLS tests, made in the test with the `openssl` command (Debian's openssl;
 * .ci/run installs it when missing): a CA, and leaf certificates it signs for the names a test
 * chooses. EC P-256 keys, valid for a day. node:crypto makes keys but not X.509 certificates, and
 * the openssl command spares a dev dependency for it.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface Pem {
  /** PEM files. */
  readonly cert: string;
  readonly key: string;
}

function openssl(args: string[]): void {
  try {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === "ENOENT")
      throw new Error("the TLS tests make certificates with the openssl command: apt-get install openssl", {
        cause: err,
      });
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.toString() ?? e.message}`, { cause: err });
  }
}

const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A self-signed CA named `name`, written as `<dir>/<name>-ca.crt` and `.key`. */
export function makeCa(dir: string, name: string): Pem {
  const cert = join(dir, `${name}-ca.crt`);
  const key = join(dir, `${name}-ca.key`);
  openssl([
    "req",
    "-x509",
    ...EC,
    "-keyout",
    key,
    "-out",
    cert,
    "-days",
    "1",
    "-subj",
    `/CN=${name} test CA`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return { cert, key };
}

/**
 * A leaf certificate signed by `ca` for `names` (host names and IP addresses, as subjectAltNames),
 * usable as a server and as a client certificate; `<dir>/<file>.crt` and `.key`.
 */
export function issueCert(dir: string, ca: Pem, file: string, names: readonly string[]): Pem {
  const cert = join(dir, `${file}.crt`);
  const key = join(dir, `${file}.key`);
  const csr = join(dir, `${file}.csr`);
  const ext = join(dir, `${file}.ext`);
  const san = names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  writeFileSync(
    ext,
    [
      "basicConstraints=CA:FALSE",
      "keyUsage=critical,digitalSignature",
      "extendedKeyUsage=serverAuth,clientAuth",
      ...(san ? [`subjectAltName=${san}`] : []),
    ].join("\n"),
  );
  openssl(["req", "-new", ...EC, "-keyout", key, "-out", csr, "-subj", `/CN=${names[0] ?? file}`]);
  openssl([
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.cert,
    "-CAkey",
    ca.key,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    ext,
    "-out",
    cert,
  ]);
  return { cert, key };
}

/** Concatenates PEM files into one bundle file (a CA bundle during a rotation). */
export function bundle(out: string, ...files: string[]): string {
  writeFileSync(out, files.map((f) => readFileSync(f, "utf8")).join(""));
  return out;
}
