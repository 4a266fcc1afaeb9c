/**
 * The detector table: every shape rule, in the order the engine applies them (a more specific
 * format before a more general one, the entropy rule last). Rules are data: adding a family is
 * one entry plus its samples in token-detectors.ts or context-detectors.ts.
 */
import { CONTEXT_DETECTORS } from "./context-detectors.js";
import type { Detector } from "./detector.js";
import { ENTROPY_DETECTOR } from "./entropy.js";
import { TOKEN_DETECTORS } from "./token-detectors.js";

export type { Detector } from "./detector.js";

/** The default table. */
export const DETECTORS: readonly Detector[] = [
  ...CONTEXT_DETECTORS.slice(0, 1),
  ...TOKEN_DETECTORS,
  ...CONTEXT_DETECTORS.slice(1),
  ENTROPY_DETECTOR,
];
