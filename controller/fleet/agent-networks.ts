/**
 * Which addresses the controller may send envelopes to for enrolled agents (issue 23, finding 4: an
 * enrollment-token holder advertised `http://127.0.0.1:<port>/admin/internal-api?x=` and the
 * controller POSTed there and stored the internal service's answer as the result).
 *
 * `--agent-networks ENV=CIDR[,CIDR…]` (SPEC §8) is the operator's allow-list per environment: an
 * enrolling agent of ENV must connect from, and advertise, addresses inside it. Loopback,
 * link-local, "this network", multicast and cloud metadata addresses are refused unless a CIDR of the
 * environment names them (an allow-list of `0.0.0.0/0` does not: it names no special range; only a
 * CIDR inside one does). The check is applied where the address is dialled too: the dispatcher
 * resolves an enrolled agent's host, checks the address and connects to exactly that one (a
 * `lookup` handed to node:http), so a name that resolves elsewhere later (DNS rebinding) is refused.
 */
import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { BlockList, isIP } from "node:net";

/** Ranges no agent is reached on unless an allow-list names them, with why. */
const SPECIAL: readonly (readonly [string, number, "ipv4" | "ipv6", string])[] = [
  ["0.0.0.0", 8, "ipv4", "'this network' (0.0.0.0 dials the controller's own host)"],
  ["127.0.0.0", 8, "ipv4", "loopback"],
  ["169.254.0.0", 16, "ipv4", "link-local (cloud metadata at 169.254.169.254)"],
  ["100.100.100.200", 32, "ipv4", "cloud metadata (Alibaba)"],
  ["168.63.129.16", 32, "ipv4", "cloud metadata (Azure wire server)"],
  ["224.0.0.0", 4, "ipv4", "multicast"],
  ["240.0.0.0", 4, "ipv4", "reserved or broadcast"],
  ["192.0.0.0", 24, "ipv4", "IETF protocol assignments (cloud metadata at 192.0.0.192)"],
  ["::", 128, "ipv6", "the unspecified address"],
  ["::1", 128, "ipv6", "loopback"],
  ["fe80::", 10, "ipv6", "link-local"],
  ["fec0::", 10, "ipv6", "site-local (deprecated)"],
  ["fd00:ec2::254", 128, "ipv6", "cloud metadata (AWS)"],
  ["ff00::", 8, "ipv6", "multicast"],
];

/** A parsed `ENV=CIDR[,CIDR…]`. */
export interface AgentNetworkEntry {
  readonly environment: string;
  readonly cidrs: readonly string[];
}

/** Parses one `--agent-networks` value; throws an Error naming what is wrong. */
export function parseAgentNetworks(text: string): AgentNetworkEntry {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new Error(`"${text}" is not ENV=CIDR[,CIDR…]`);
  const environment = text.slice(0, eq).trim();
  const cidrs = text
    .slice(eq + 1)
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  if (cidrs.length === 0) throw new Error(`"${text}" names no network`);
  for (const cidr of cidrs) parseCidr(cidr);
  return { environment, cidrs };
}

interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: "ipv4" | "ipv6";
}

function parseCidr(text: string): Cidr {
  const [address = "", prefixText, extra] = text.split("/");
  const version = isIP(address);
  if (version === 0 || extra !== undefined) throw new Error(`"${text}" is not an address or a CIDR`);
  const family = version === 4 ? "ipv4" : "ipv6";
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText ?? String(max)) || prefix > max)
    throw new Error(`"${text}" has no prefix length between 0 and ${max}`);
  return { address, prefix, family };
}

/** `::ffff:10.0.0.7` is 10.0.0.7: an IPv4-mapped address is judged as the IPv4 address it is. */
function normalise(address: string): { address: string; family: "ipv4" | "ipv6" } | undefined {
  const bare = address.replace(/^\[|\]$/g, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  const plain = mapped?.[1] ?? bare;
  const version = isIP(plain);
  if (version === 0) return undefined;
  return { address: plain, family: version === 4 ? "ipv4" : "ipv6" };
}

/** The eight 16-bit groups of an IPv6 address (a trailing dotted quad allowed); undefined if not one. */
function groupsOf(address: string): number[] | undefined {
  let text = address.toLowerCase();
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail, extra] = text.split("::");
  if (extra !== undefined) return undefined;
  const part = (t: string) => (t === "" ? [] : t.split(":").map((g) => Number.parseInt(g, 16)));
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  const missing = 8 - left.length - right.length;
  if (tail === undefined ? missing !== 0 : missing < 0) return undefined;
  const groups = [...left, ...new Array<number>(missing).fill(0), ...right];
  return groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/**
 * The IPv4 address an IPv6 address carries, for the forms that reach it (issue 23 attack,
 * informational: only `::ffff:a.b.c.d` was looked through): IPv4-compatible `::a.b.c.d`, SIIT
 * `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96` and the local-use `64:ff9b:1::/48` (last 32 bits), and
 * 6to4 `2002:AABB:CCDD::/48`. Undefined for any other address.
 */
export function embeddedIpv4(address: string): string | undefined {
  const g = groupsOf(address);
  if (!g) return undefined;
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  const zeros = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (g[0] === 0x2002) return v4(g[1]!, g[2]!);
  const last = v4(g[6]!, g[7]!);
  if (zeros(0, 5) && (g[5] === 0 || g[5] === 0xffff)) return g[6] === 0 && g[7]! <= 1 ? undefined : last;
  if (zeros(0, 4) && g[4] === 0xffff && g[5] === 0) return last;
  if (g[0] === 0x64 && g[1] === 0xff9b && (zeros(2, 6) || g[2] === 1)) return last;
  return undefined;
}

/** Is `inner` (a range) wholly inside the special range `[address, prefix]`? */
function insideSpecial(inner: Cidr, special: readonly [string, number, "ipv4" | "ipv6", string]): boolean {
  if (inner.family !== special[2] || inner.prefix < special[1]) return false;
  const list = new BlockList();
  list.addSubnet(special[0], special[1], special[2]);
  return list.check(inner.address, inner.family);
}

export class AgentNetworks {
  private readonly allowed = new Map<string, BlockList>();
  /** Per environment, the special ranges its allow-list names (by a CIDR inside them). */
  private readonly named = new Map<string, BlockList>();
  private readonly special = new BlockList();

  constructor(entries: readonly AgentNetworkEntry[]) {
    for (const [address, prefix, family] of SPECIAL) this.special.addSubnet(address, prefix, family);
    for (const { environment, cidrs } of entries) {
      const list = this.allowed.get(environment) ?? new BlockList();
      const named = this.named.get(environment) ?? new BlockList();
      for (const text of cidrs) {
        const cidr = parseCidr(text);
        list.addSubnet(cidr.address, cidr.prefix, cidr.family);
        if (SPECIAL.some((s) => insideSpecial(cidr, s)))
          named.addSubnet(cidr.address, cidr.prefix, cidr.family);
      }
      this.allowed.set(environment, list);
      this.named.set(environment, named);
    }
  }

  /** Whether `environment` has an allow-list. */
  has(environment: string): boolean {
    return this.allowed.has(environment);
  }

  /**
   * Why an agent of `environment` may not be reached at (or connect from) `address`; undefined
   * when it may. `what` says which address it is, for the message.
   */
  refusal(environment: string, address: string, what: string): string | undefined {
    const ip = normalise(address);
    if (!ip) return `${what} "${address}" is not an IP address`;
    const list = this.allowed.get(environment);
    // An IPv6 address that carries an IPv4 one reaches that address: judge it as well.
    const inner = ip.family === "ipv6" ? embeddedIpv4(ip.address) : undefined;
    if (
      inner !== undefined &&
      this.special.check(inner, "ipv4") &&
      !this.named.get(environment)?.check(inner, "ipv4")
    ) {
      const kind = SPECIAL.find((s) => insideSpecial({ address: inner, family: "ipv4", prefix: 32 }, s));
      return `${what} ${ip.address} carries ${inner}, ${kind?.[3] ?? "a special-purpose address"}, refused unless --agent-networks names it for "${environment}"`;
    }
    if (this.special.check(ip.address, ip.family)) {
      if (this.named.get(environment)?.check(ip.address, ip.family)) return undefined;
      const kind = SPECIAL.find((s) => insideSpecial({ ...ip, prefix: ip.family === "ipv4" ? 32 : 128 }, s));
      return `${what} ${ip.address} is ${kind?.[3] ?? "a special-purpose address"}, refused unless --agent-networks names it for "${environment}"`;
    }
    if (list && !list.check(ip.address, ip.family))
      return `${what} ${ip.address} is outside --agent-networks for "${environment}"`;
    return undefined;
  }

  /**
   * Every address `host` resolves to, each allowed for `environment`; throws an Error saying which
   * is not (or that the name does not resolve). An IP literal resolves to itself.
   */
  async resolve(environment: string, host: string): Promise<LookupAddress[]> {
    const bare = host.replace(/^\[|\]$/g, "");
    const found: LookupAddress[] =
      isIP(bare) !== 0
        ? [{ address: bare, family: isIP(bare) }]
        : await new Promise((resolve, reject) =>
            dnsLookup(bare, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
          );
    if (found.length === 0) throw new Error(`"${host}" resolves to no address`);
    for (const { address } of found) {
      const why = this.refusal(environment, address, `the agent address (${host})`);
      if (why) throw new Error(why);
    }
    return found;
  }

  /**
   * A `lookup` for node:http that resolves `host` once, refuses the connection unless every address
   * is allowed for `environment`, and hands node exactly the checked address: what was checked is
   * what is dialled.
   */
  pinnedLookup(environment: string): PinnedLookup {
    return (hostname, options, callback) => {
      this.resolve(environment, hostname).then(
        (addresses) => {
          const wanted = typeof options === "object" && options?.all;
          if (wanted) callback(null, addresses);
          else callback(null, addresses[0]!.address, addresses[0]!.family);
        },
        (err: Error) => callback(Object.assign(err, { refusedAddress: true }), ""),
      );
    };
  }
}

/** node:net's `lookup` option, as node:http passes it through. */
export type PinnedLookup = (
  hostname: string,
  options: { all?: boolean } | number | undefined,
  // biome-ignore lint/suspicious/noExplicitAny: node's callback is overloaded on `all`
  callback: (err: NodeJS.ErrnoException | null, address: any, family?: number) => void,
) => void;
