/**
 * Masking a stream line by line (`keyhole redact`, log tails) without losing what spans lines: a
 * PEM private key block opened on one line masks every line up to its END armour, although each
 * line alone would show only base64 (and a short last body line would slip past entropy).
 */
import { maskedMarker } from "./markers.js";
import type { Redactor } from "./redactor.js";

const DASHES = "-----";
const BEGIN = new RegExp(`${DASHES}BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?${DASHES}`, "g");
const END = new RegExp(`${DASHES}END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?${DASHES}`);
/** Lines masked whole after a BEGIN without END, at most: a block never closed stops somewhere. */
const MAX_BLOCK_LINES = 1024;

/** Masks one line of a stream (without its line break); keeps state between lines. */
export type LineMasker = (line: string) => string;

/** True when the last BEGIN armour of `line` is not followed by an END armour. */
function opensBlock(line: string): boolean {
  if (!line.includes("PRIVATE KEY")) return false;
  let lastBegin = -1;
  BEGIN.lastIndex = 0;
  for (let m = BEGIN.exec(line); m !== null; m = BEGIN.exec(line)) lastBegin = m.index + m[0].length;
  return lastBegin >= 0 && !END.test(line.slice(lastBegin));
}

/** A stateful line masker over `redactor`; one per stream. */
export function createLineMasker(redactor: Pick<Redactor, "maskText" | "fingerprint">): LineMasker {
  let blockLines = 0;
  let inBlock = false;
  return (line) => {
    if (inBlock) {
      const end = END.exec(line);
      if (!end && ++blockLines <= MAX_BLOCK_LINES) {
        return line === "" ? line : maskedMarker("pem-private-key", redactor.fingerprint(line));
      }
      inBlock = false;
      if (end) {
        const body = line.slice(0, end.index);
        const marker = body === "" ? "" : maskedMarker("pem-private-key", redactor.fingerprint(body));
        return marker + end[0] + redactor.maskText(line.slice(end.index + end[0].length));
      }
    }
    const masked = redactor.maskText(line);
    if (opensBlock(line)) {
      inBlock = true;
      blockLines = 0;
    }
    return masked;
  };
}
