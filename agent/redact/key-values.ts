/**
 * The name rule inside free text: `key=value`, `key: value`, `"key": "value"`, `--key=value`,
 * `X-Api-Key: value`, `<password>value</password>`, `<add key="DbPassword" value="…"/>`. When
 * the key is a secret name (secret-names.ts) and the value is not plainly harmless, the value
 * becomes a marker; the key, quotes and separator stay.
 *
 * Driven by NAME_WORDS: one case-insensitive scan finds the few places where a secret name could
 * be, and only there is a key parsed around the hit. Text full of ordinary `a=b` pairs (access
 * logs) then costs one fast scan instead of a parse of every pair.
 */
import { KeywordAutomaton } from "./keyword-automaton.js";
import { isSecretName, isSecretUnderName, type MaskPiece, maskSecretValue } from "./named-values.js";
import { plainValueKind } from "./plain-values.js";
import { classifyName, isGenericName, TRANSLATED_WORDS } from "./secret-names.js";

/** The rule id of values masked because of their key. */
export const SECRET_NAME_RULE = "secret-name";

/**
 * Every secret name holds one of these words (a test checks this against secret-names.ts): a key
 * without one is never parsed.
 */
export const NAME_WORD_LIST: readonly string[] = [
  "pass",
  "pwd",
  "secret",
  "token",
  "auth",
  "key",
  "cred",
  "sess",
  "cookie",
  "sig",
  "dsn",
  "jwt",
  "salt",
  "bearer",
  "conn",
  "pw",
  "pin",
  "psk",
  "community",
  // Other languages' words for password, secret, token, credentials and key: the words
  // secret-names.ts translates, plus ASCII prefixes that also find their decomposed (NFD) and
  // inflected spellings (`contrasen̄a`, `parolă`, `jelszó`). Upper and capitalised spellings are
  // listed where the keyword automaton's case folding (ASCII only) would not find them.
  ...withCases([
    // (ASCII words under four letters, `cle`, would wake the scan in `cycle` and `article`.)
    ...TRANSLATED_WORDS.filter((w) => w.length >= 4 || w.charCodeAt(0) > 127),
    "mdp",
    "contrase",
    "parol",
    "jelsz",
    "κωδικ",
    "secrè",
    "segred",
    "segret",
    "credencia",
    "credenzia",
    "暗証",
  ]),
];

/** Each word as written, capitalised and upper-cased (for letters outside ASCII), without repeats. */
function withCases(words: readonly string[]): string[] {
  const out = new Set<string>();
  for (const word of words) {
    out.add(word);
    if ([...word].some((c) => c.charCodeAt(0) > 127)) {
      out.add(word[0]!.toUpperCase() + word.slice(1));
      out.add(word.toUpperCase());
    }
  }
  return [...out];
}
/**
 * NAME_WORD_LIST as one case-insensitive regex: for tests that ask whether a name holds a word.
 * The rule itself scans with NAME_SCAN.
 */
export const NAME_WORDS = new RegExp(NAME_WORD_LIST.join("|"), "giu");

/**
 * NAME_WORD_LIST as a keyword automaton (ASCII case folding; the list spells out the cases of the
 * other scripts' words): the same automaton the prefilter wakes windows with, so the rule finds a
 * name exactly where the prefilter does. The regex alternation of 160-odd words with Unicode case
 * folding cost about half of the engine's time on a line holding a name word (issue 17: 32,000
 * instructions for a 130-character log line).
 */
const NAME_SCAN = new KeywordAutomaton(NAME_WORD_LIST.map((text) => ({ text, ignoreCase: true, owner: 0 })));

/** Longest key considered; longer runs of key characters are not keys. */
const MAX_KEY = 128;
/** Longest value a value pattern takes; a longer one is extended in code (see extendValue). */
const MAX_VALUE = 4096;

/**
 * A key, optional quotes around it, and `=`, `:` or `=>` (PHP, Perl and Ruby hashes:
 * `'password' => '…'`; PHP arrays: `$cfg['db_pass'] = '…'`), parsed sticky at the start of a key
 * run.
 */
export const KEY_PATTERN =
  /-{0,2}(?<q>["']?)(?<key>[\p{L}_][\p{L}\p{M}\p{N}_.-]{0,127})\k<q>\]?[ \t]{0,32}(?<sep>=>|::(?=[ \t])|[=:：])[ \t]{0,3}/duy;

/*
 * Both value patterns: a quoted value (masked inside its quotes); an opening quote never closed on
 * its line (masked to the end of the line: failing closed); or a bare value, which never starts
 * with a quote, so the quote left before a marker is not taken for a value on the next round.
 */
/** After `=`, a bare value: to whitespace, `&` (query strings), a quote, or `,`/`;` + space. */
export const VALUE_AFTER_EQUALS =
  /"(?<dq>(?:[^"\\\r\n]|\\.){1,4096})"|'(?<sq>[^'\r\n]{1,4096})'|["'](?<unclosed>[^\r\n]{1,4096})|(?<bare>(?:[^\s&"'`,;<]|[,;](?!\s)){1,4096})/y;
/** A quoted value, or after `:` (YAML, HTTP headers, "Key: value" logs) the rest of the line: such values may hold spaces. */
export const VALUE_AFTER_COLON =
  /"(?<dq>(?:[^"\\\r\n]|\\.){1,4096})"|'(?<sq>(?:[^'\r\n]|''){1,4096})'|["'](?<unclosed>[^\r\n]{1,4096})|(?<line>[^\r\n"'][^\r\n]{0,4095})/y;
/** After `"key":` (JSON): a string, or a bare scalar up to `,`, `}` or `]`; an object or array is no value (its own keys are judged). */
export const VALUE_AFTER_JSON_KEY =
  /"(?<dq>(?:[^"\\\r\n]|\\.){1,4096})"|(?<bare>[^\s,{}[\]"'][^\s,}\]]{0,4095})/y;
/** `key="Name"` or `name="Name"` followed by a value attribute: Name is a name, not a secret. */
const XML_NAME_ATTRIBUTE =
  /=(?<q>["'])[A-Za-z_][A-Za-z0-9_.-]{0,127}\k<q>[ \t]{1,3}(?:value|content)[ \t]{0,2}=/y;
/** A connection string (`Server=db;User Id=app;Password=…`): its own keys are judged one by one. */
const CONNECTION_STRING = /^(?:[A-Za-z][A-Za-z0-9 ]{0,40}=[^;]{0,2048};){2,32}/;
/** A value random enough under a generic name: 8+ characters with a digit, or mixed case. */
/**
 * A value random enough under a generic name: 8+ characters without blanks, not an object or list,
 * with a digit or mixed case. A linear scan: the regex it replaces backtracked quadratically, and
 * was tried at every `key=` of a line of them (attacker's pass on issue 17, finding R1: 16 s for
 * `key=` repeated to 4 KB).
 */
function randomEnough(value: string): boolean {
  if (value.length < 8 || value.length > 4096 || value[0] === "{" || value[0] === "[") return false;
  let digit = false;
  let upper = false;
  let lower = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 32 || c === 9 || c === 10 || c === 13) return false;
    if (c >= 48 && c <= 57) digit = true;
    else if (c >= 65 && c <= 90) upper = true;
    else if (c >= 97 && c <= 122) lower = true;
  }
  if (!(digit || (upper && lower))) return false;
  // Ids, paths and identifiers under `key`: a UUID, `logs/2024/01/app.log.gz`,
  // `checkout.button.submitOrder2`, `newCheckoutFlow2`, `Container` (attacker's pass, finding D3).
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) return false;
  if (/^[\w.-]{1,64}(?:\/[\w.-]{1,64}){1,32}$/.test(value) && /[a-z]{3}/.test(value)) return false;
  if (/^[A-Za-z][A-Za-z]{1,40}[0-9]{0,4}(?:[._-][A-Za-z][A-Za-z]{1,40}[0-9]{0,4}){0,8}$/.test(value))
    return false;
  return true;
}

/** An id of words ending in a digest or a version under a generic name: `Linux-node-<sha256>`, a cache key. */
const WORDS_AND_DIGEST =
  /^[A-Za-z][A-Za-z0-9]{0,31}(?:[-_.:][A-Za-z0-9.]{1,32}){0,8}[-_.:](?:[0-9a-f]{16,128}|v?[0-9]{1,6}(?:\.[0-9]{1,6}){0,3})$/;

/** A cookie list (`a=b; c=d`) or one cookie with attributes. */
const COOKIE_LIST =
  /^[^\s=;]{1,256}=[^;]{0,4096}(?:;[ \t]{0,4}[^\s=;]{1,256}(?:=[^;]{0,4096})?){0,64};?[ \t]*$/;

/** `<tag attrs>` up to the value of an XML element. */
const XML_OPEN_REST = /(?:[ \t][^<>\r\n]{0,1024})?>/y;
/** The value attribute after `key="Name"` (.NET appSettings, Java properties XML). */
export const XML_VALUE_ATTRIBUTE =
  /[ \t]{1,3}(?:value|content)[ \t]{0,2}=[ \t]{0,2}(?:"(?<dq>[^"]{1,4096})"|'(?<sq>[^']{1,4096})')/y;

const BARE_VALUE_CHAR = /[^\s&"'`,;<]/;

const NON_ASCII_KEY_CHAR = /[\p{L}\p{M}\p{N}]/u;

/** True when every name word is made of key characters, so a hit never runs past its key. */
const NAME_WORDS_IN_KEYS = NAME_WORD_LIST.every((word) =>
  Array.from({ length: word.length }, (_, i) => word.charCodeAt(i)).every(isKeyChar),
);

/**
 * How far past the end of its line a value this rule masks may run. Every value pattern above
 * stops at a line break except the two XML forms: an attribute value runs to its closing quote
 * (`[^"]{1,4096}`) and an element's value to the next `<` (at most MAX_VALUE characters), which
 * must open `</key>`. So a match never reads more than MAX_VALUE characters of value plus a
 * closing quote or tag (a key is at most MAX_KEY + 2 characters) past the line it starts on. The
 * prefilter (windows.ts) grows a window by this much from each keyword line where
 * `mayRunPastLine` holds.
 */
export const VALUE_REACH_PAST_LINE = MAX_VALUE + MAX_KEY + 8;
/** The opening quote of an XML value attribute (as in XML_VALUE_ATTRIBUTE). */
const VALUE_ATTRIBUTE_OPENING = /(?:value|content)[ \t]{0,2}=[ \t]{0,2}(["'])/g;

/**
 * A necessary condition, read off XML_VALUE_ATTRIBUTE and xmlElementValue (keep them together),
 * for a value this rule finds on `line` (one line, without its line break) to run onto the next
 * line: a quote opening a value attribute with no same quote after it on the line, or a last `<`
 * that opens an element named by a secret name and closed by a `>` on the line (the element's
 * value then starts after that `>` and no `<` ends it on the line). Any other value ends on its
 * line. Over-approximates: it does not check the attribute's key name.
 */
export function mayRunPastLine(line: string): boolean {
  const lt = line.lastIndexOf("<");
  if (lt >= 0 && line.indexOf(">", lt) > lt) {
    let end = lt + 1;
    while (end < line.length && isKeyChar(line.charCodeAt(end))) end++;
    if (isSecretName(line.slice(lt + 1, end).replace(/^-{1,2}/, ""))) return true;
  }
  VALUE_ATTRIBUTE_OPENING.lastIndex = 0;
  for (let m = VALUE_ATTRIBUTE_OPENING.exec(line); m; m = VALUE_ATTRIBUTE_OPENING.exec(line)) {
    if (!line.includes(m[1]!, VALUE_ATTRIBUTE_OPENING.lastIndex)) return true;
  }
  return false;
}

function isKeyChar(c: number): boolean {
  return (
    (c >= 97 && c <= 122) ||
    (c >= 65 && c <= 90) ||
    (c >= 48 && c <= 57) ||
    c === 95 ||
    c === 46 ||
    c === 45 ||
    (c > 127 && NON_ASCII_KEY_CHAR.test(String.fromCharCode(c)))
  );
}

/** Where a value that filled the pattern's bound really ends: a longer secret must not leave its tail in clear. */
function extendValue(text: string, end: number, kind: "line" | "bare"): number {
  let i = end;
  if (kind === "line") {
    while (i < text.length && text[i] !== "\n" && text[i] !== "\r") i++;
  } else {
    while (i < text.length && BARE_VALUE_CHAR.test(text[i]!)) i++;
  }
  return i;
}

/** The last line end found, so that many keys on one long line find it once (no quadratic scan). */
let lineEndCache: { text: string; from: number; end: number } | undefined;

/** Where the line holding `at` ends. */
function lineEnd(text: string, at: number): number {
  const cached = lineEndCache;
  if (cached && cached.text === text && at >= cached.from && at <= cached.end) return cached.end;
  const lf = text.indexOf("\n", at);
  const cr = text.indexOf("\r", at);
  const end = Math.min(lf < 0 ? text.length : lf, cr < 0 ? text.length : cr);
  lineEndCache = { text, from: at, end };
  return end;
}

/**
 * The value after `NAME<TAB>` (tab-separated listings: `PASSWORD\tvalue`): from the first
 * character after the tabs to the next tab or line end, trailing blanks dropped.
 */
function tabbedValueSpan(text: string, at: number): [number, number] | undefined {
  let start = at;
  while (text[start] === "\t") start++;
  let end = start;
  while (end < text.length && end - start < MAX_VALUE && !"\t\r\n".includes(text[end]!)) end++;
  while (end > start && text[end - 1] === " ") end--;
  return end > start ? [start, end] : undefined;
}

/**
 * Where a value that runs to the end of its line really ends: another field on the line ends it
 * (`{Host:db Password:X Port:5432}` in Go's `%+v`, `{password: X, user: app}` in a YAML flow map),
 * as does an escaped line break inside a JSON string, and closing brackets that close what opened
 * before the key (attacker's pass on issue 17, finding D2).
 */
function lineValueEnd(text: string, start: number, end: number): number {
  const line = text.slice(start, Math.min(end, start + MAX_VALUE));
  const next =
    /,[ \t]{0,4}[A-Za-z_][\w.-]{0,64}:[ \t]|[ \t]{1,4}[A-Z][A-Za-z0-9_]{0,64}:[^\s/]|\\[nr](?=[^"]{0,4096}"[ \t]{0,4}[,}\]])/.exec(
      line,
    );
  if (!next && end - start > MAX_VALUE) return end;
  const cut = next ? next.index : line.length;
  const value = withoutUnbalancedClosers(line.slice(0, cut));
  return value.length > 0 ? start + value.length : end;
}

/** A value without the closing brackets at its end that close what opened before it (`X)]}`). */
function withoutUnbalancedClosers(value: string): string {
  let end = value.length;
  while (end > 0 && ")]}".includes(value[end - 1]!)) {
    const closer = value[end - 1]!;
    const opener = closer === ")" ? "(" : closer === "]" ? "[" : "{";
    const body = value.slice(0, end);
    if (body.split(opener).length >= body.split(closer).length) break;
    end--;
  }
  return value.slice(0, end);
}

/** The index past the bracket closing the one at `open`, on the same line; undefined if none. */
function closingBracket(text: string, open: number, _opener?: string, closer?: string): number | undefined {
  const close = closer ?? (text[open] === "[" ? "]" : text[open] === "{" ? "}" : ")");
  let depth = 0;
  const stop = Math.min(text.length, open + 512);
  for (let i = open; i < stop; i++) {
    const c = text[i]!;
    if (c === "\n" || c === "\r") return undefined;
    if (c === text[open]) depth++;
    else if (c === close && --depth === 0) return i + 1;
  }
  return undefined;
}

/** The span of the value that starts at `at`, or undefined when there is none. */
function valueSpan(
  text: string,
  at: number,
  sep: string,
  json: boolean,
  ownLine = false,
): [number, number] | undefined {
  const first = text[at];
  if (sep === ":" && !json && first !== undefined && !"\"'\r\n".includes(first)) {
    // The rest of the line, found without a regex over it: a long line of `k: k: k:` stays linear.
    let end = lineEnd(text, at);
    while (end > at && (text[end - 1] === " " || text[end - 1] === "\t")) end--;
    return end > at ? [at, end] : undefined;
  }
  // `password: ""`: an empty value.
  if ((first === '"' || first === "'") && text[at + 1] === first) return undefined;
  const pattern = json ? VALUE_AFTER_JSON_KEY : sep === ":" ? VALUE_AFTER_COLON : VALUE_AFTER_EQUALS;
  pattern.lastIndex = at;
  const match = pattern.exec(text);
  const groups = match?.groups;
  if (!match || !groups) return undefined;
  if (groups.dq !== undefined || groups.sq !== undefined) return [at + 1, at + match[0].length - 1];
  const kind = groups.bare !== undefined ? "bare" : "line";
  const start = groups.unclosed !== undefined ? at + 1 : at;
  let end = at + match[0].length;
  if (end - start >= MAX_VALUE) end = extendValue(text, end, kind);
  // `os.environ["API_SECRET"]`, `$(cat /run/secrets/db)`, `getenv("X")`: an expression runs to
  // its closing bracket, so that it is judged whole (as code, not as a secret).
  if (kind === "bare" && end > start && "[(".includes(text[end - 1]!))
    end = closingBracket(text, end - 1) ?? end;
  else if (kind === "bare" && text.startsWith("$(", start)) end = closingBracket(text, start + 1) ?? end;
  else if (kind === "bare" && text[start] === "(") end = closingBracket(text, start) ?? end;
  // `KEY=value` on a line of its own (.env files, properties, shell): the value runs to the next
  // blank, `&`, `,` and `;` included (`PASSWORD=Tr0ub4dor&3`); in a query string or a list of
  // pairs on one line, they separate pairs.
  if (kind === "bare" && ownLine) {
    // A line of its own (`PASSWORD=correct horse battery staple`, `DB_PASSWORD=Abc'def`): to the
    // end of the line (attacker's pass on issue 17, finding L7), unless another pair follows.
    const stop = lineEnd(text, end);
    while (end < stop && end - start < MAX_VALUE) {
      if ("&;,".includes(text[end]!) && /^[A-Za-z_][A-Za-z0-9_.-]{0,64}=/.test(text.slice(end + 1, end + 67)))
        break;
      end++;
    }
    while (end > start && (text[end - 1] === " " || text[end - 1] === "\t")) end--;
  } else if (kind === "bare") {
    // A list of pairs (`User[name=bob,password=X,email=…]`, `a=1;b=2`): a pair ends where the
    // next one starts (attacker's pass, finding D2).
    const next = /[,;](?=[A-Za-z_][\w.-]{0,64}=)/.exec(text.slice(start, end));
    if (next) end = start + next.index;
    // `{PWD={a;b}}` (ODBC braces protect `;`); `Password=Abc def;Database=app` (a connection
    // string's value runs to its `;`).
    if (text[start] === "{") end = closingBracket(text, start, "{", "}") ?? end;
    else {
      const rest = /^[^;=\r\n]{1,256};[ \t]{0,4}[A-Za-z][\w ]{0,40}=/.exec(text.slice(end, end + 320));
      if (
        rest &&
        /;[ \t]{0,4}[A-Za-z][\w ]{0,40}=|^[^=]{0,256};/.test(text.slice(Math.max(0, start - 256), start))
      )
        end = end + rest[0].indexOf(";");
    }
  }
  // (A value to the end of its line is cut where another field starts by maskKeyValues, once it
  // is judged a secret: cutting every candidate made long lines of `key: ` quadratic.)
  if (kind === "bare") end = start + withoutUnbalancedClosers(text.slice(start, end)).length;
  // Trailing blanks of a line are layout, not part of the value.
  while (kind === "line" && end > start && (text[end - 1] === " " || text[end - 1] === "\t")) end--;
  return end > start ? [start, end] : undefined;
}

/** The value span of `<key …>value</key>` when the key run [start, end) opens an element. */
function xmlElementValue(
  text: string,
  start: number,
  end: number,
  key: string,
): [number, number] | undefined {
  // `<ns2:Password>` (a namespace prefix: SOAP WS-Security, .NET): read on its line only, like a
  // CDATA section below, so that the prefilter's reach past a line (mayRunPastLine) stays exact.
  const prefix = /<([A-Za-z_][\w.-]{0,31}):$/.exec(text.slice(Math.max(0, start - 34), start))?.[1];
  if (text[start - 1] !== "<" && prefix === undefined) return undefined;
  XML_OPEN_REST.lastIndex = end;
  if (!XML_OPEN_REST.exec(text)) return undefined;
  const from = XML_OPEN_REST.lastIndex;
  const closeTag = prefix === undefined ? `</${key}>` : `</${prefix}:${key}>`;
  // `<password><![CDATA[…]]></password>` (attacker's pass on issue 17, finding L5).
  if (text.startsWith("<![CDATA[", from)) {
    const cdataEnd = text.indexOf("]]>", from);
    if (cdataEnd < 0 || /[\r\n]/.test(text.slice(from, cdataEnd)) || !text.startsWith(closeTag, cdataEnd + 3))
      return undefined;
    return cdataEnd > from + 9 ? [from + 9, cdataEnd] : undefined;
  }
  const close = text.indexOf("<", from);
  if (close <= from || close - from > MAX_VALUE || !text.startsWith(closeTag, close)) return undefined;
  if (prefix !== undefined && /[\r\n]/.test(text.slice(from, close))) return undefined;
  return [from, close];
}

/** The value span of `key="Name" value="…"` when the quoted key run [start, end) is such a name. */
function xmlAttributeValue(text: string, start: number, end: number): [number, number] | undefined {
  const quote = text[start - 1];
  if ((quote !== '"' && quote !== "'") || text[end] !== quote) return undefined;
  XML_VALUE_ATTRIBUTE.lastIndex = end + 1;
  const match = XML_VALUE_ATTRIBUTE.exec(text);
  if (!match?.groups) return undefined;
  const stop = XML_VALUE_ATTRIBUTE.lastIndex - 1;
  const value = match.groups.dq ?? match.groups.sq ?? "";
  return [stop - value.length, stop];
}

/** True when only blanks precede `at` on its line. */
function startsLine(text: string, at: number): boolean {
  let i = at;
  while (i > 0 && (text[i - 1] === " " || text[i - 1] === "\t")) i--;
  return i === 0 || text[i - 1] === "\n" || text[i - 1] === "\r";
}

/** The quote escapes a key can sit between: `\"` (JSON in a JSON string) and `&quot;` (HTML). */
const ESCAPED_QUOTES = ["&quot;", "&#34;"];

/**
 * The escaped quote right before `start`, as many backslashes deep as the text escapes it: `\"`
 * (JSON in a JSON string), `\\\"` (one level more: a job payload in a log line), up to 15.
 */
function escapedQuoteBefore(text: string, start: number): string | undefined {
  if (text[start - 1] !== '"') return undefined;
  let k = 0;
  while (k < 15 && text[start - 2 - k] === "\\") k++;
  return k > 0 ? `${"\\".repeat(k)}"` : undefined;
}

/** The value span of `\"key\": \"value\"` (or `&quot;` quotes) around the key run [start, end). */
function escapedPair(text: string, start: number, end: number): [number, number] | undefined {
  // Every escaped quote starts with one of these: most keys are followed by neither.
  if (text[end] !== "\\" && text[end] !== "&") return undefined;
  const backslashed = escapedQuoteBefore(text, start);
  for (const quote of backslashed ? [backslashed, ...ESCAPED_QUOTES] : ESCAPED_QUOTES) {
    if (!text.startsWith(quote, start - quote.length) || !text.startsWith(quote, end)) continue;
    let at = end + quote.length;
    while (text[at] === " " || text[at] === "\t") at++;
    if (text[at] !== ":" && text[at] !== "=") return undefined;
    at++;
    while (text[at] === " " || text[at] === "\t") at++;
    if (text.startsWith(quote, at)) {
      const from = at + quote.length;
      const close = text.indexOf(quote, from);
      if (close <= from || close - from > MAX_VALUE) return undefined;
      return [from, close];
    }
    let stop = at;
    while (stop < text.length && stop - at < 64 && !",}]\\ \t\r\n&".includes(text[stop]!)) stop++;
    return stop > at ? [at, stop] : undefined;
  }
  return undefined;
}

/** True when the word before the key at `at` is a lower-case word of a sentence (`oauth token:`). */
function proseBefore(text: string, at: number): boolean {
  let i = at;
  // `failed to list *v1.Secret: secrets is forbidden`: a Go pointer type in a message.
  if (text[i - 1] === "*" && text[i - 2] === " ") i--;
  if (text[i - 1] !== " ") return false;
  while (i > 0 && text[i - 1] === " ") i--;
  let j = i;
  while (j > 0 && j > i - 40) {
    const c = text.charCodeAt(j - 1);
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90))) break;
    j--;
  }
  if (j === i || (j > 0 && !" \t\"'(".includes(text[j - 1]!))) return false;
  const word = text.slice(j, i);
  return /[a-z]$/.test(word) && !/^(?:[A-Z]{2,}|Set|Get|Add)$/.test(word);
}

/** The value of a key used in a sentence: its first token, unless that token is the sentence going on. */
function proseValue(
  text: string,
  at: number,
  key: string,
): { key: string; span: [number, number] } | undefined {
  let end = at;
  const stop = lineEnd(text, at);
  while (end < stop && end - at < MAX_VALUE && !" \t".includes(text[end]!)) end++;
  let valueEnd = end;
  while (valueEnd > at && ".,;:)!?".includes(text[valueEnd - 1]!)) valueEnd--;
  if (valueEnd <= at) return undefined;
  const value = text.slice(at, valueEnd);
  const more = text.slice(end, stop).trim() !== "";
  if (more && /^[a-z]{1,40}$/.test(value)) return undefined;
  if (text[valueEnd] === ":") return undefined;
  return { key, span: [at, valueEnd] };
}

/** The key around a name-word hit and its value's span, if the hit is in a key. */
function pairAt(
  text: string,
  hit: number,
  hitEnd: number,
): { key: string; span: [number, number] } | undefined {
  let start = hit;
  while (start > 0 && isKeyChar(text.charCodeAt(start - 1))) {
    start--;
    if (hit - start > MAX_KEY) return undefined;
  }
  let end = hitEnd;
  while (end < text.length && isKeyChar(text.charCodeAt(end))) {
    end++;
    if (end - start > MAX_KEY + 2) return undefined;
  }
  let keyStart = start;
  while (keyStart < end && keyStart - start < 2 && text[keyStart] === "-") keyStart++;
  // `auth/session.go:88`, `C:\\auth\\token:…`: a path's last part is no key.
  const before = text[start - 1];
  if (before === "/" || before === "\\" || before === "@") return undefined;
  // `${DB_PASSWORD:?unset}`, `${DB_PASSWORD:-x}`: a variable expansion, not a key.
  if (before === "{" && text[start - 2] === "$") return undefined;
  // `arn:aws:secretsmanager:…:secret:prod/db`: a part of a colon-joined id, not a key.
  if (
    before === ":" &&
    /[A-Za-z0-9]/.test(text[start - 2] ?? "") &&
    !/\$env$/i.test(text.slice(Math.max(0, start - 5), start - 1)) &&
    !/<[A-Za-z_][\w.-]{0,31}:$/.test(text.slice(Math.max(0, start - 34), start))
  )
    return undefined;
  const first = text.charCodeAt(keyStart);
  if (!((first >= 65 && first <= 90) || (first >= 97 && first <= 122) || first === 95 || first > 127))
    return undefined;
  // `{\"password\":\"…\"}` (JSON inside a JSON string: a container runtime's log line) and
  // `{&quot;password&quot;:&quot;…&quot;}`: the escaped quotes delimit key and value (attacker's
  // pass on issue 17, finding L1).
  const escaped = escapedPair(text, start, end);
  if (escaped)
    return isSecretName(text.slice(keyStart, end))
      ? { key: text.slice(keyStart, end), span: escaped }
      : undefined;
  // `"key": value` and `'key'=value`: the quotes before and after the key belong to it.
  const quoted = (text[start - 1] === '"' || text[start - 1] === "'") && text[end] === text[start - 1];
  // Most secret-sounding words are in no key (`session refreshed`): a key is followed by `=` or
  // `:`, or opens an XML element or names an XML value attribute. Seen before anything costlier.
  // `$cfg['db_pass'] = …`: the bracket closing an array index belongs to the key too.
  // `[DB_PASSWORD] => …` (PHP's print_r): the brackets around a bare key belong to it too.
  const keyEnd = quoted
    ? text[end + 1] === "]"
      ? end + 2
      : end + 1
    : text[end] === "]" && text[start - 1] === "["
      ? end + 1
      : end;
  let after = keyEnd;
  // Up to 32 blanks: aligned keys (`+ password              = "…"` in a Terraform plan).
  for (let n = 0; n < 32 && (text[after] === " " || text[after] === "\t"); n++) after++;
  // `：` is the full-width colon of Chinese and Japanese text.
  // `…QQA= for`: base64 padding before a blank, not `key=value` (written `k=v` or `k = v`).
  const padding = text[keyEnd] === "=" && (text[keyEnd + 1] === " " || text[keyEnd + 1] === "=");
  const separated = !padding && (text[after] === "=" || text[after] === ":" || text[after] === "：");
  // `NAME<TAB>value`: a name that starts its line (a two-column listing, not a TSV header
  // naming a `password` column) and a tab right after it separate the value.
  const tabbed =
    !separated &&
    text[keyEnd] === "\t" &&
    after < text.length &&
    !"\r\n".includes(text[after]!) &&
    startsLine(text, quoted ? start - 1 : start);
  // (The pattern's own test, only where it can hold: most hits are in words that are no key.)
  const prefixedElement =
    before === ":" && /<[A-Za-z_][\w.-]{0,31}:$/.test(text.slice(Math.max(0, start - 34), start));
  if (!separated && !tabbed && !quoted && before !== "<" && !prefixedElement) return undefined;
  const key = text.slice(keyStart, end);
  // Most hits are in ordinary words and keys (`token_type`, `cache_key`): judged by name first.
  if (!isSecretName(key)) return undefined;
  const element = xmlElementValue(text, start, end, key);
  if (element) return { key, span: element };
  const attribute = xmlAttributeValue(text, start, end);
  if (attribute) return { key, span: attribute };
  if (key === "key" || key === "name") {
    XML_NAME_ATTRIBUTE.lastIndex = end;
    if (XML_NAME_ATTRIBUTE.test(text)) return undefined;
  }
  if (tabbed) {
    const span = tabbedValueSpan(text, keyEnd);
    return span ? { key, span } : undefined;
  }
  if (!separated) return undefined;
  KEY_PATTERN.lastIndex = quoted ? start - 1 : start;
  const match = KEY_PATTERN.exec(text);
  if (!match?.groups || match.groups.key !== key) return undefined;
  const sep = match.groups.sep === "：" ? ":" : (match.groups.sep ?? "=");
  const valueStart = KEY_PATTERN.lastIndex;
  // `password === confirmPassword`, `token == null`: a comparison, not a value (finding D4).
  if (sep === "=" && text[match.index + match[0].trimEnd().length] === "=") return undefined;
  // Inside a quoted string (`"msg":"token: abc123"`, `"caller":"session.go:88"`): the value ends
  // with the string.
  const inString = !quoted && (before === '"' || before === "'");
  // `getpass("Password: ")`: the string ends right after the name: no value.
  if (inString && text[valueStart] === before) return undefined;
  if (sep === ":" && !quoted && !inString && proseBefore(text, quoted ? start - 1 : start)) {
    // `failed to fetch oauth token: unexpected status: 401`: a word of a sentence before the
    // name makes it prose; the value is one token, and a lower-case word followed by more words
    // is the sentence going on, not a value.
    return proseValue(text, valueStart, key);
  }
  const span = valueSpan(
    text,
    KEY_PATTERN.lastIndex,
    sep,
    quoted && text[start - 1] === '"' && sep === ":",
    sep === "=" &&
      startsLine(text, quoted ? start - 1 : start) &&
      !/[ \t][A-Za-z_][\w.-]{0,64}=/.test(
        text.slice(KEY_PATTERN.lastIndex, lineEnd(text, KEY_PATTERN.lastIndex)),
      ),
  );
  if (span && inString) {
    const close = text.indexOf(before!, span[0]);
    if (close >= 0 && close < span[1]) span[1] = close;
    if (span[1] <= span[0]) return undefined;
  }
  return span ? { key, span } : undefined;
}

/**
 * True when the key at `keyAt` ends a name written in words (`public key: …`, `Server host key:
 * …`, as `wg show` and `ssh -v` print them) that says public: the words before the key, one blank
 * apart, qualify it.
 */
function publicPhrase(text: string, keyAt: number, key: string): boolean {
  let from = keyAt;
  for (let words = 0; words < 2 && text[from - 1] === " "; words++) {
    let at = from - 1;
    while (at > 0 && /[A-Za-z]/.test(text[at - 1]!)) at--;
    if (at === from - 1) break;
    from = at;
  }
  if (from === keyAt) return false;
  // The words start a field: a line (after its indentation) or what follows a `label: ` prefix.
  const lead = text.slice(text.lastIndexOf("\n", from - 1) + 1, from);
  if (!/^[ \t]*$|:[ \t]{1,4}$/.test(lead)) return false;
  return !classifyName(text.slice(from, keyAt + key.length)).secret;
}

/** Masks the values of secret-named keys in `text` (which holds no markers). */
export function maskKeyValues(text: string, mask: MaskPiece): string {
  let out = "";
  let copied = 0;
  // Where the scan goes on: past the last hit, or further where a verdict says so.
  let next = 0;
  for (
    let hit = NAME_SCAN.firstMatch(text, 0, text.length);
    hit;
    hit = NAME_SCAN.firstMatch(text, next, text.length)
  ) {
    next = hit[1];
    if (hit[0] < copied) {
      next = copied;
      continue;
    }
    const pair = pairAt(text, hit[0], hit[1]);
    if (!pair) {
      // Every hit in this run of key characters reads the same key, so gets the same verdict:
      // `sess` and then `session` in `session refreshed` were judged twice (names are key
      // characters only: NAME_WORDS_IN_KEYS).
      if (NAME_WORDS_IN_KEYS) while (next < text.length && isKeyChar(text.charCodeAt(next))) next++;
      continue;
    }
    const start = pair.span[0];
    let end = pair.span[1];
    // Whatever the verdict, the rest of this key holds no other key.
    next = Math.max(next, Math.min(start, text.length));
    if (
      start < copied ||
      !isSecretName(pair.key) ||
      publicPhrase(text, text.lastIndexOf(pair.key, start), pair.key)
    )
      continue;
    let value = text.slice(start, end);
    if (!isSecretUnderName(pair.key, value) || CONNECTION_STRING.test(value)) {
      // A value shown as code, a template or a reference (`Session = Depends(get_db)`) holds no
      // key of its own: its words are read as part of it, not as further pairs.
      if (plainValueKind(value) !== undefined) next = Math.max(next, end);
      continue;
    }
    if (isGenericName(pair.key) && (!randomEnough(value) || WORDS_AND_DIGEST.test(value))) continue;
    // A Cookie header's list: the session-cookie rule judged each cookie.
    if (COOKIE_LIST.test(value) && /cookie/i.test(pair.key)) {
      next = end;
      continue;
    }
    // A value that ran to the end of its line ends where another field starts (lineValueEnd);
    // what is left must still be a secret's value.
    if (
      !"\"'".includes(text[start - 1] ?? "") &&
      end === lineEnd(text, start) &&
      /[:：][ \t]{0,32}$/.test(text.slice(Math.max(0, start - 33), start))
    ) {
      end = lineValueEnd(text, start, end);
      value = text.slice(start, end);
      if (!isSecretUnderName(pair.key, value)) continue;
    }
    const masked = maskSecretValue(value, value, SECRET_NAME_RULE, mask);
    // `"password":123456789012`: a JSON number under a secret name becomes a string, so that the
    // line stays JSON (attacker's pass on issue 17, finding D1).
    const jsonBare =
      text[start - 1] !== '"' && /"[ \t]{0,32}:[ \t]{0,32}$/.test(text.slice(Math.max(0, start - 40), start));
    out += text.slice(copied, start) + (jsonBare ? `"${masked}"` : masked);
    copied = end;
    next = end;
  }
  lineEndCache = undefined;
  return copied === 0 ? text : out + text.slice(copied);
}
