/**
 * Masking a command line: `--password=x`, `--token x` (the value is the next argument, even one
 * that starts with `-` unless it plainly is the next flag), and everything the text rules find in
 * each argument (URL credentials, tokens, known values).
 */
import { isSecretName, isSecretUnderName, type MaskPiece, maskSecretValue } from "./named-values.js";

/** The rule id of values masked because of the flag before them. */
export const SECRET_FLAG_RULE = "secret-flag";

/** `-x`, `--long-flag`, optionally `=value`. */
const FLAG = /^(?<dashes>-{1,2})(?<name>[A-Za-z][A-Za-z0-9_.-]{0,127})(?:=(?<value>[\s\S]*))?$/;
/**
 * What may follow a secret flag and still be read as the next flag rather than as its value:
 * `--`, a short flag or cluster (`-v`, `-vv`), a lower-case long flag (`--verbose`,
 * `--log-level=debug`). Anything else starting with `-` (`--db-password -Xk9…`) is the value.
 */
const PLAIN_NEXT_FLAG =
  /^(?:--|-[a-zA-Z]{1,2}|--[a-z][a-z0-9]{0,30}(?:[-_.][a-z0-9]{1,30}){0,6}(?:=[\s\S]*)?)$/;

/** The rule id of passwords at a position a program defines (`mysql -pSECRET`, `redis-cli -a SECRET`). */
export const CLI_PASSWORD_RULE = "cli-password";

/**
 * Short flags that take a password in the programs that define them so (the text rule
 * `cli-password` in position-detectors.ts reads the same programs in a logged command line):
 * `next` flags take the next argument, `glued` flags the rest of the same argument.
 */
const PROGRAM_PASSWORD_FLAGS: readonly {
  program: RegExp;
  next: readonly string[];
  glued: readonly string[];
  after?: string;
}[] = [
  {
    program:
      /^(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mysqlpump|mysqlsh|mariadb|mariadb-dump|mariadb-admin)$/,
    next: [],
    glued: ["-p"],
  },
  { program: /^redis-cli$/, next: ["-a", "--pass"], glued: [] },
  { program: /^sshpass$/, next: ["-p"], glued: ["-p"] },
  {
    program: /^ldap(?:search|modify|add|delete|whoami|passwd|compare|modrdn|exop|url)$/,
    next: ["-w"],
    glued: [],
  },
  { program: /^(?:sqlcmd|bcp|osql)$/, next: ["-P"], glued: ["-P"] },
  {
    program: /^(?:mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport|mongostat|mongotop)$/,
    next: ["-p"],
    glued: [],
  },
  { program: /^(?:docker|podman|nerdctl|buildah|skopeo|helm)$/, next: ["-p"], glued: [], after: "login" },
  { program: /^(?:zip|unzip|zipcloak)$/, next: ["-P"], glued: [] },
  { program: /^(?:7z|7za|7zr)$/, next: [], glued: ["-p"] },
  { program: /^ssh-keygen$/, next: ["-N", "-P"], glued: [] },
];

/** The indexes of `argv` that hold a password by position, with the offset where it starts. */
function passwordPositions(argv: readonly string[]): Map<number, number> {
  const found = new Map<number, number>();
  const program = (argv[0] ?? "").replace(/^.*[/\\]/, "").replace(/\.exe$/i, "");
  const rule = PROGRAM_PASSWORD_FLAGS.find((r) => r.program.test(program));
  if (rule) {
    const from = rule.after === undefined ? 1 : argv.indexOf(rule.after) + 1;
    if (from > 0) {
      for (let i = from; i < argv.length; i++) {
        const arg = argv[i]!;
        if (rule.next.includes(arg) && i + 1 < argv.length) found.set(i + 1, 0);
        for (const flag of rule.glued)
          if (arg.startsWith(flag) && arg.length > flag.length && !arg.startsWith("--"))
            found.set(i, flag.length);
      }
    }
  }
  if (/^(?:curl|wget|http|https|xh)$/.test(program)) {
    for (let i = 1; i + 1 < argv.length; i++) {
      if (!["-u", "--user", "--proxy-user", "-U"].includes(argv[i]!)) continue;
      const colon = argv[i + 1]!.indexOf(":");
      if (colon > 0 && colon < argv[i + 1]!.length - 1) found.set(i + 1, colon + 1);
    }
  }
  if (program === "htpasswd" && argv.length >= 4 && argv.slice(1).some((a) => /^-[a-zA-Z]*b/.test(a))) {
    found.set(argv.length - 1, 0);
  }
  return found;
}

/** What mask-argv needs from the redactor. */
export interface ArgvMaskingDeps {
  readonly maskText: (text: string) => string;
  readonly mask: MaskPiece;
  /** Called for an argument whose masking threw; returns what to show instead. */
  readonly withhold: (arg: string, err: unknown) => string;
}

/**
 * Masks each argument; one that cannot be masked becomes the withheld marker, never raw.
 * Short flags are read as password flags only for the programs that define them so
 * (PROGRAM_PASSWORD_FLAGS): `-p` is a port, a path or a profile elsewhere.
 */
export function maskArgvWith(argv: readonly string[], deps: ArgvMaskingDeps): string[] {
  const out: string[] = [];
  let secretFlag: string | undefined;
  const positions = passwordPositions(argv);
  for (const [index, arg] of argv.entries()) {
    const at = positions.get(index);
    if (at !== undefined) {
      try {
        out.push(arg.slice(0, at) + deps.mask(arg.slice(at), CLI_PASSWORD_RULE));
      } catch (err) {
        out.push(deps.withhold(arg, err));
      }
      secretFlag = undefined;
      continue;
    }
    const flagBefore = secretFlag;
    secretFlag = undefined;
    try {
      // After a secret flag, an argument starting with `-` is its value unless it plainly is a flag.
      const flag =
        flagBefore !== undefined && !PLAIN_NEXT_FLAG.test(arg) ? undefined : FLAG.exec(arg)?.groups;
      if (flagBefore !== undefined && !flag && arg !== "--") {
        const shaped = deps.maskText(arg);
        out.push(
          isSecretUnderName(flagBefore, arg)
            ? maskSecretValue(arg, shaped, SECRET_FLAG_RULE, deps.mask)
            : shaped,
        );
      } else if (flag?.name && flag.value !== undefined) {
        const shaped = deps.maskText(flag.value);
        const value = isSecretUnderName(flag.name, flag.value)
          ? maskSecretValue(flag.value, shaped, SECRET_FLAG_RULE, deps.mask)
          : shaped;
        out.push(`${flag.dashes}${flag.name}=${value}`);
      } else {
        // `--token` alone: its value is the next argument (unless that is another flag).
        if (flag?.name && isSecretName(flag.name)) secretFlag = flag.name;
        out.push(deps.maskText(arg));
      }
    } catch (err) {
      out.push(deps.withhold(arg, err));
    }
  }
  return out;
}
