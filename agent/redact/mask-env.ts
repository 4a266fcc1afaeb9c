/**
 * Masking one environment variable: the name says whether the value is a secret, the value's
 * shape may say so whatever the name.
 */
import { SECRET_NAME_RULE } from "./key-values.js";
import { MARKER_PATTERN } from "./markers.js";
import { isSecretUnderName, type MaskPiece, maskSecretValue } from "./named-values.js";

/** One variable's value as it may leave the pod. */
export interface MaskedValue {
  /** The value, with every secret part replaced by a marker. */
  readonly value: string;
  readonly masked: boolean;
  /** Why it was masked: the first marker's rule (`secret-name`, `url-credentials`, `github-token`…). */
  readonly rule?: string;
  /** Keyed fingerprint of the whole raw value, to compare across pods without revealing it. */
  readonly fingerprint?: string;
}

/** What mask-env needs from the redactor. */
export interface EnvMaskingDeps {
  readonly maskText: (text: string) => string;
  readonly mask: MaskPiece;
  readonly fingerprint: (value: string) => string;
}

function firstRule(masked: string): string | undefined {
  const marker = MARKER_PATTERN.exec(masked)?.[0];
  return marker?.slice(1, -1).split(":")[1];
}

/**
 * Masks `value` of variable `name`. The shape rules always run (a token under `NOTES` is still a
 * token); when the name says secret and the value is not plainly harmless, the value is masked
 * whole, except the public structure maskSecretValue keeps (URL parts, a `Bearer ` prefix).
 */
export function maskEnvValue(name: string, value: string, deps: EnvMaskingDeps): MaskedValue {
  const shaped = deps.maskText(value);
  const out = isSecretUnderName(name, value)
    ? maskSecretValue(value, shaped, SECRET_NAME_RULE, deps.mask)
    : shaped;
  if (out === value) return { value, masked: false };
  return {
    value: out,
    masked: true,
    rule: firstRule(out) ?? SECRET_NAME_RULE,
    fingerprint: deps.fingerprint(value),
  };
}
