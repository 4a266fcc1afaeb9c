/**
 * The masking engine's public surface. Pure (text in, text out): actions and the CLI's
 * `keyhole redact` use it; it imports nothing from them.
 */
export { DETECTORS, type Detector } from "./detectors.js";
export { ENTROPY_BITS_PER_CHAR, MIN_CLASS_CHANGES, MIN_ENTROPY_LENGTH } from "./entropy.js";
export { FINGERPRINT_HEX_LENGTH } from "./fingerprint.js";
export { MIN_KNOWN_VALUE_LENGTH, MIN_SHORT_VALUE_LENGTH } from "./known-values.js";
export { createLineMasker, type LineMasker } from "./line-masker.js";
export { MARKER_PATTERN, WITHHELD_MARKER } from "./markers.js";
export type { MaskedValue } from "./mask-env.js";
export { countMarkers, type MaskCounts } from "./mask-stats.js";
export {
  type CountingRedactor,
  createRedactor,
  type Redactor,
  type RedactorOptions,
} from "./redactor.js";
export { classifyName, type NameInfo } from "./secret-names.js";
