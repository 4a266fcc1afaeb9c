/**
 * Issue 17: V8's and Node's builtin names in a heap snapshot (`CEntry_Return1_ArgvOnStack_…`)
 * were masked as high-entropy runs. Identifiers of `_`-joined words are kept; random tokens,
 * alone or joined to a name with `_`, are still masked.
 */
import { describe, expect, it } from "vitest";
import { isIdentifier, looksRandom } from "../../../../agent/redact/entropy.js";
import { expand, redactor } from "./samples.js";

const BUILTIN_NAMES = [
  "CEntry_Return1_ArgvInRegister_NoBuiltinExit",
  "CEntry_Return2_ArgvOnStack_BuiltinExit",
  "LoadJoinTypedElement_Uint8ClampedElements_0",
  "StoreTypedElementJSAny_BigUint64Elements_0",
  "LoadNoHasPropertyCheck_GenericElementsAccessor_0",
  "CanUseSameAccessor_FastDoubleElements_0",
];

describe("the entropy rule and identifiers", () => {
  it("keeps V8 builtin names, bare or as a heap snapshot writes them", () => {
    const r = redactor();
    for (const name of BUILTIN_NAMES) {
      expect(isIdentifier(name)).toBe(true);
      for (const text of [name, `(${name} builtin code)`, `1703 / ${name}`])
        expect(r.maskText(text)).toBe(text);
    }
  });

  it("still masks random tokens holding `_`, and a random token joined to a long name", () => {
    const r = redactor();
    const tokens = [
      `${expand("{alnum:14}", 1)}_${expand("{alnum:20}", 2)}`,
      `ConfigurationManagerImplementationFactory_${expand("{alnum:32}", 3)}`,
      `UserSessionCache_${expand("{alnum:32}", 4)}`,
    ];
    for (const token of tokens) {
      expect(isIdentifier(token)).toBe(false);
      expect(looksRandom(token, token, 0)).toBe(true);
      expect(r.maskText(`value ${token} end`)).toMatch(/^value ⟦masked:high-entropy:[0-9a-f]{12}⟧ end$/);
    }
  });

  it("leaves fewer than 10 in 10,000 random base64url tokens holding `_` in clear because of it", () => {
    let identifiers = 0;
    for (let seed = 1; seed <= 10_000; seed++) {
      const token = expand("{b64url:32}", seed);
      if (token.includes("_") && isIdentifier(token)) identifiers++;
    }
    expect(identifiers).toBeLessThan(10);
  });
});
