/**
 * What counts as loopback for the inspector: the agent only ever talks to the target over the
 * pod's loopback interface, never over an address another host could answer on.
 */
import { isIP } from "node:net";

/** True for 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (bare === "localhost" || bare === "::1") return true;
  return isIP(bare) === 4 && bare.startsWith("127.");
}

/** True for the wildcard addresses a listening socket may be bound to (it then accepts loopback too). */
export function isWildcardHost(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  return bare === "0.0.0.0" || bare === "::";
}

/**
 * The loopback address to dial for a socket listening on `address`: itself when it is loopback,
 * the loopback of its family when it is a wildcard; undefined when it is not reachable on loopback.
 */
export function loopbackDialAddress(address: string): string | undefined {
  if (isLoopbackHost(address)) return address === "localhost" ? "127.0.0.1" : address;
  if (address === "0.0.0.0") return "127.0.0.1";
  if (address === "::") return "::1";
  return undefined;
}
