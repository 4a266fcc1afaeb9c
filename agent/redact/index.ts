/**
 * The masking engine's public surface. Pure (text in, text out): actions and the CLI's
 * `keyhole redact` use it; it imports nothing from them.
 */
export { DETECTORS, type Detector } from "./detectors.js";
export { FINGERPRINT_HEX_LENGTH } from "./fingerprint.js";
export { MIN_KNOWN_VALUE_LENGTH } from "./known-values.js";
export { MARKER_PATTERN, WITHHELD_MARKER } from "./markers.js";
export type { MaskedValue } from "./mask-env.js";
export { createRedactor, type Redactor, type RedactorOptions } from "./redactor.js";
export { classifyName, type NameInfo } from "./secret-names.js";
