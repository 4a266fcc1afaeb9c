/**
 * createRedactor(): the masking engine behind one interface. Pure: text in, text out; it knows
 * nothing of actions, targets or HTTP. Its only state is the set of known secret values.
 *
 * Fails closed: when masking a piece throws, that piece becomes WITHHELD_MARKER (with its line
 * breaks), never the raw text.
 */
import { DETECTORS, type Detector } from "./detectors.js";
import { createFingerprinter } from "./fingerprint.js";
import { KnownValues } from "./known-values.js";
import { lineBreaksOf, maskedMarker, WITHHELD_MARKER } from "./markers.js";
import { maskArgvWith } from "./mask-argv.js";
import { type MaskedValue, maskEnvValue } from "./mask-env.js";
import { addNewMarkers, type MaskCounts } from "./mask-stats.js";
import { compileRules, maskTextWith } from "./mask-text.js";
import type { MaskPiece } from "./named-values.js";

/** The masking engine every action's output passes through. */
export interface Redactor {
  /** Masks one environment variable's value; the name is never masked. */
  maskEnv(name: string, value: string): MaskedValue;
  /** Masks free text (a log, a report); the line count is kept. */
  maskText(text: string): string;
  /** Masks a command line, argument by argument. */
  maskArgv(argv: readonly string[]): string[];
  /**
   * Marks `value` as secret from now on, wherever it reappears (verbatim, JSON-escaped,
   * URL-encoded, base64), together with every secret part the rules find in it (the password of
   * a URL, say). Values under 8 characters are masked only as the whole value of a key; under 4
   * they are not kept.
   */
  remember(value: string): void;
  /** The keyed fingerprint markers carry: 12 hex digits of HMAC-SHA256(fingerprintKey, value). */
  fingerprint(value: string): string;
  /** maskText, plus how many markers of each rule it wrote (never the values). */
  maskTextWithStats(text: string): { text: string; counts: MaskCounts };
  /**
   * A view of this redactor (same rules, same known values) that adds up the markers each of its
   * calls writes, per rule: an action masks through it and puts `counts()` in its record.
   */
  counting(): CountingRedactor;
  /**
   * Runs `learn` with the uncounted redactor once per `key` for this redactor and all its views:
   * teaching it a target's secrets is bookkeeping, not masking of this request's output, so it
   * neither repeats per request nor shows in a request's counts. The most recent keys are kept.
   */
  learnOnce(key: string, learn: (redactor: Redactor) => void): void;
}

/** A redactor that counts what it masks. */
export interface CountingRedactor extends Omit<Redactor, "counting"> {
  /** Markers written so far by this view's calls, per rule. */
  counts(): MaskCounts;
}

/** What a redactor is built from. */
export interface RedactorOptions {
  /** The per-deployment HMAC key of fingerprints. */
  readonly fingerprintKey: Uint8Array;
  /** The shape detectors; DETECTORS by default (tests and later engines pass their own). */
  readonly detectors?: readonly Detector[];
  /** How many known values to keep; the oldest is forgotten first. */
  readonly maxKnownValues?: number;
}

/** How many learnOnce keys a redactor keeps; forgetting one only costs learning it again. */
const MAX_LEARNED_KEYS = 256;

export type { MaskCounts } from "./mask-stats.js";

/** Blanks every line of `text`, keeping its line breaks: the fail-closed answer for a whole text. */
function withholdLines(text: string): string {
  return text.replace(/[^\n\r\u2028\u2029]{1,65536}/g, WITHHELD_MARKER);
}

/** Builds a redactor. */
export function createRedactor(options: RedactorOptions): Redactor {
  const fingerprint = createFingerprinter(options.fingerprintKey);
  const rules = compileRules(options.detectors ?? DETECTORS);
  const known = new KnownValues(options.maxKnownValues);
  // While remember() runs, every piece the rules mask is collected here too.
  let collecting: string[] | undefined;

  const mask: MaskPiece = (raw, rule, identity) => {
    collecting?.push(identity ?? raw);
    return maskedMarker(rule, fingerprint(identity ?? raw)) + lineBreaksOf(raw);
  };

  const maskText = (text: string): string => {
    try {
      return maskTextWith(text, rules, known, mask);
    } catch {
      // A multi-line secret (a PEM block) may span lines, so no line can be trusted alone.
      return withholdLines(text);
    }
  };

  const maskEnv = (name: string, value: string): MaskedValue => {
    try {
      return maskEnvValue(name, value, { maskText, mask, fingerprint });
    } catch {
      return {
        value: WITHHELD_MARKER + lineBreaksOf(value),
        masked: true,
        rule: "redaction-error",
        fingerprint: fingerprint(value),
      };
    }
  };

  const maskArgv = (argv: readonly string[]): string[] =>
    maskArgvWith(argv, { maskText, mask, withhold: (arg) => WITHHELD_MARKER + lineBreaksOf(arg) });

  const remember = (value: string): void => {
    const pieces: string[] = [];
    collecting = pieces;
    try {
      maskTextWith(value, rules, known, mask);
    } catch {
      // The value itself is still remembered below.
    } finally {
      collecting = undefined;
    }
    known.add(value);
    for (const piece of pieces) known.add(piece);
  };

  const maskTextWithStats = (text: string) => {
    const counts: MaskCounts = {};
    const out = maskText(text);
    addNewMarkers(counts, text, out);
    return { text: out, counts };
  };

  const learned = new Set<string>();
  const learnOnce = (key: string, learn: (redactor: Redactor) => void): void => {
    if (learned.has(key)) return;
    learn(redactor);
    if (learned.size >= MAX_LEARNED_KEYS) learned.delete(learned.values().next().value!);
    learned.add(key);
  };

  const redactor: Redactor = {
    maskText,
    maskEnv,
    maskArgv,
    remember,
    fingerprint,
    maskTextWithStats,
    learnOnce,
    counting() {
      const counts: MaskCounts = {};
      return {
        maskText(text) {
          const out = maskText(text);
          addNewMarkers(counts, text, out);
          return out;
        },
        maskEnv(name, value) {
          const out = maskEnv(name, value);
          addNewMarkers(counts, value, out.value);
          return out;
        },
        maskArgv(argv) {
          const out = maskArgv(argv);
          for (const [i, arg] of out.entries()) addNewMarkers(counts, argv[i] ?? "", arg);
          return out;
        },
        remember,
        fingerprint,
        maskTextWithStats,
        learnOnce,
        counts: () => ({ ...counts }),
      };
    },
  };
  return redactor;
}
