/**
 * The detector table: every shape rule, in the order the engine applies them (a more specific
 * format before a more general one, the entropy rule last). Rules are data: adding a family is
 * one entry plus its samples in token-detectors.ts or context-detectors.ts.
 */
import { CONTEXT_DETECTORS } from "./context-detectors.js";
import type { Detector } from "./detector.js";
import { ENTROPY_DETECTOR } from "./entropy.js";
import { POSITION_DETECTORS } from "./position-detectors.js";
import { STRUCTURE_DETECTORS } from "./structure-detectors.js";
import { TOKEN_DETECTORS } from "./token-detectors.js";

export type { Detector } from "./detector.js";

/** The default table. */
export const DETECTORS: readonly Detector[] = [
  ...CONTEXT_DETECTORS.slice(0, 1),
  // Structures spanning lines before the token families: a token in a table's secret column, or
  // on the line after its name, must not split the structure into pieces the rule cannot read.
  ...STRUCTURE_DETECTORS,
  ...TOKEN_DETECTORS,
  ...CONTEXT_DETECTORS.slice(1),
  ...POSITION_DETECTORS,
  ENTROPY_DETECTOR,
];
