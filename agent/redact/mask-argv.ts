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

/** What mask-argv needs from the redactor. */
export interface ArgvMaskingDeps {
  readonly maskText: (text: string) => string;
  readonly mask: MaskPiece;
  /** Called for an argument whose masking threw; returns what to show instead. */
  readonly withhold: (arg: string, err: unknown) => string;
}

/**
 * Masks each argument; one that cannot be masked becomes the withheld marker, never raw.
 * Short flags with glued values (`-pSECRET`) are not understood: their meaning differs per program.
 */
export function maskArgvWith(argv: readonly string[], deps: ArgvMaskingDeps): string[] {
  const out: string[] = [];
  let secretFlag: string | undefined;
  for (const arg of argv) {
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
