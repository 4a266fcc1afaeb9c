/**
 * Where a Node target will open its inspector when it receives SIGUSR1: the host and port of its
 * `--inspect*` flags, from `NODE_OPTIONS` and its command line, or Node's default 127.0.0.1:9229.
 * Pure: the caller reads the command line and environment.
 */

/** Node's default inspector port. */
export const DEFAULT_INSPECT_PORT = 9229;

/** The address a target's inspector is configured for; `port` 0 means "a random port". */
export interface InspectAddress {
  /** The host the flags name, if any (Node then binds it instead of 127.0.0.1). */
  readonly host?: string;
  readonly port: number;
}

/** Flags whose value sets the inspector's `[host:]port`. */
const ADDRESS_FLAGS = new Set([
  "--inspect",
  "--inspect-brk",
  "--inspect-wait",
  "--inspect-port",
  "--debug-port",
]);
/** Of those, the ones that also accept their value as the next argument (`--inspect-port 9230`). */
const SPACED_ADDRESS_FLAGS = new Set(["--inspect-port", "--debug-port"]);
/**
 * Node options that take the next argument as their value, so that value is not mistaken for the
 * script name (where option parsing stops).
 */
const VALUE_FLAGS = new Set([
  "-r",
  "--require",
  "--import",
  "--loader",
  "--experimental-loader",
  "-e",
  "--eval",
  "-p",
  "--print",
  "-C",
  "--conditions",
  "--title",
  "--input-type",
  "--env-file",
  "--redirect-warnings",
  "--stack-trace-limit",
  "--max-old-space-size",
  "--max-semi-space-size",
]);

/**
 * Parses Node's `[host:]port` (`9229`, `0.0.0.0:9229`, `[::1]:9229`, or a bare host). Returns
 * undefined for a value Node itself would reject.
 */
export function parseHostPort(value: string): { host?: string; port?: number } | undefined {
  const asPort = (text: string) => {
    if (!/^\d{1,5}$/.test(text)) return undefined;
    const port = Number(text);
    return port <= 65535 ? port : undefined;
  };
  if (/^\d+$/.test(value)) {
    const port = asPort(value);
    return port === undefined ? undefined : { port };
  }
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (bracketed) {
    if (bracketed[2] === undefined) return { host: bracketed[1]! };
    const port = asPort(bracketed[2]);
    return port === undefined ? undefined : { host: bracketed[1]!, port };
  }
  const colon = value.lastIndexOf(":");
  if (colon > 0 && value.indexOf(":") === colon) {
    const port = asPort(value.slice(colon + 1));
    return port === undefined ? undefined : { host: value.slice(0, colon), port };
  }
  return value === "" ? undefined : { host: value };
}

/**
 * Splits `NODE_OPTIONS` the way Node does: on spaces, with double quotes grouping and a backslash
 * escaping the next character inside quotes.
 */
export function splitNodeOptions(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let inToken = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === "\\" && i + 1 < text.length) current += text[++i];
      else if (c === '"') quoted = false;
      else current += c;
    } else if (c === '"') {
      quoted = true;
      inToken = true;
    } else if (c === " ") {
      if (inToken) out.push(current);
      current = "";
      inToken = false;
    } else {
      current += c;
      inToken = true;
    }
  }
  if (inToken) out.push(current);
  return out;
}

/**
 * Applies the `--inspect*` options among `args` (node options only, no script) to `address`.
 * `stopAtScript`: the command line ends its node options at the first non-option argument (the
 * script); `NODE_OPTIONS` has no script.
 */
function applyFlags(address: InspectAddress, args: readonly string[], stopAtScript: boolean): InspectAddress {
  let result = address;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") break;
    if (!arg.startsWith("-")) {
      if (stopAtScript) break;
      continue;
    }
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg : arg.slice(0, eq);
    let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (value === undefined && SPACED_ADDRESS_FLAGS.has(name) && i + 1 < args.length) value = args[++i];
    else if (value === undefined && VALUE_FLAGS.has(name)) i++;
    if (!ADDRESS_FLAGS.has(name) || value === undefined) continue;
    const parsed = parseHostPort(value);
    if (!parsed) continue;
    result = {
      ...(parsed.host !== undefined
        ? { host: parsed.host }
        : result.host !== undefined
          ? { host: result.host }
          : {}),
      port: parsed.port ?? result.port,
    };
  }
  return result;
}

/**
 * The inspector address of a Node process: `NODE_OPTIONS` first, then the command line's node
 * options (Node applies them in that order, so the command line wins), later flags over earlier.
 * `cmdline[0]` is the executable.
 */
export function inspectAddress(cmdline: readonly string[], nodeOptions: string | undefined): InspectAddress {
  let address: InspectAddress = { port: DEFAULT_INSPECT_PORT };
  if (nodeOptions) address = applyFlags(address, splitNodeOptions(nodeOptions), false);
  return applyFlags(address, cmdline.slice(1), true);
}
