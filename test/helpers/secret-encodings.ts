/**
 * The encodings a program commonly writes a string in, each as the program would write it: the
 * list docs/masking.md promises that a known value is found in (issue 16, finding 6). Written here
 * independently of the agent's own unescaper, from what each language or library emits.
 */

const hex2 = (byte: number, lower: boolean) => {
  const h = byte.toString(16).padStart(2, "0");
  return lower ? h : h.toUpperCase();
};
const hex4 = (unit: number, lower: boolean) => {
  const h = unit.toString(16).padStart(4, "0");
  return lower ? h : h.toUpperCase();
};
const utf8 = (s: string) => [...Buffer.from(s, "utf8")];
const units = (s: string) => Array.from({ length: s.length }, (_, i) => s.charCodeAt(i));

/** JSON with every non-ASCII unit as \uXXXX: Python's json.dumps (lower hex), Jackson's ESCAPE_NON_ASCII (upper). */
function asciiJson(s: string, lower: boolean): string {
  return JSON.stringify(s)
    .slice(1, -1)
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${hex4(c.charCodeAt(0), lower)}`);
}

/** Percent-encoding of the UTF-8 bytes of the characters `encode` picks. */
function percent(s: string, encode: (c: string) => boolean, lower = false, space = "%20"): string {
  let out = "";
  for (const c of s) {
    if (c === " " && space === "+") out += "+";
    else if (encode(c))
      out += utf8(c)
        .map((b) => `%${hex2(b, lower)}`)
        .join("");
    else out += c;
  }
  return out;
}

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/** Python's repr of the UTF-8 bytes (b'…' without the quotes): \xHH for non-printable and non-ASCII bytes. */
function pythonBytesRepr(s: string): string {
  let out = "";
  for (const b of utf8(s)) {
    if (b === 0x5c) out += "\\\\";
    else if (b === 0x27) out += "\\'";
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += `\\x${hex2(b, true)}`;
  }
  return out;
}

function htmlEscape(s: string, apostrophe: string): string {
  return s.replace(/[&<>"']/g, (c) =>
    c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : c === '"' ? "&quot;" : apostrophe,
  );
}

const base64 = (bytes: Buffer, url = false) => bytes.toString(url ? "base64url" : "base64");

/** Encoding name → how a program writes `s`. */
export const ENCODINGS: Record<string, (s: string) => string> = {
  verbatim: (s) => s,
  "JSON (JSON.stringify)": (s) => JSON.stringify(s).slice(1, -1),
  "Go encoding/json (\\u003c \\u003e \\u0026)": (s) =>
    JSON.stringify(s)
      .slice(1, -1)
      .replace(/[<>&\u2028\u2029]/g, (c) => `\\u${hex4(c.charCodeAt(0), true)}`),
  "Python json.dumps (\\u00e4)": (s) => asciiJson(s, true),
  "Java/Jackson ASCII JSON (\\u00E4)": (s) => asciiJson(s, false),
  "PHP json_encode (\\/ and \\u00e4)": (s) => asciiJson(s, true).replaceAll("/", "\\/"),
  "JSON inside JSON": (s) => JSON.stringify(JSON.stringify(s)).slice(3, -3),
  "JavaScript \\uXXXX for every unit": (s) =>
    units(s)
      .map((u) => `\\u${hex4(u, true)}`)
      .join(""),
  "Python bytes repr (\\xHH)": pythonBytesRepr,
  encodeURIComponent: encodeURIComponent,
  "encodeURIComponent, lower-case hex": (s) =>
    encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()),
  "form encoding (URLSearchParams, + for space)": (s) => new URLSearchParams({ v: s }).toString().slice(2),
  "RFC 3986 strict (Go QueryEscape-like, %20)": (s) => percent(s, (c) => !UNRESERVED.test(c)),
  ".NET HttpUtility.UrlEncode-like (lower hex, +)": (s) =>
    percent(s, (c) => !/^[A-Za-z0-9\-_.!*()]$/.test(c), true, "+"),
  "every character percent-encoded": (s) => percent(s, () => true),
  "every character percent-encoded, lower-case hex": (s) => percent(s, () => true, true),
  "double URL-encoding": (s) => encodeURIComponent(encodeURIComponent(s)),
  "HTML escape (&#39;)": (s) => htmlEscape(s, "&#39;"),
  "HTML escape (&#x27;, Python html.escape)": (s) => htmlEscape(s, "&#x27;"),
  "XML escape (&apos;)": (s) => htmlEscape(s, "&apos;"),
  "HTML escaped twice": (s) => htmlEscape(htmlEscape(s, "&#39;"), "&#39;"),
  "decimal character references for every character": (s) =>
    [...s].map((c) => `&#${c.codePointAt(0)};`).join(""),
  "hex character references for every character": (s) =>
    [...s].map((c) => `&#x${c.codePointAt(0)!.toString(16)};`).join(""),
  "non-ASCII as decimal references (XML in US-ASCII)": (s) =>
    s.replace(/[\u{80}-\u{10ffff}]/gu, (c) => `&#${c.codePointAt(0)};`),
  base64: (s) => base64(Buffer.from(s)),
  base64url: (s) => base64(Buffer.from(s), true),
  "base64 inside a Basic credential (user:secret)": (s) => base64(Buffer.from(`svc-user:${s}`)),
  "base64 of UTF-16LE (PowerShell, .NET Encoding.Unicode)": (s) => base64(Buffer.from(s, "utf16le")),
  "base64 of UTF-16BE (Java UTF-16)": (s) => base64(Buffer.from(s, "utf16le").swap16()),
};
