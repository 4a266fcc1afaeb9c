/**
 * Secrets whose name is not right before them but one level above or one line away, in a
 * structure the engine reads: a name field and its value field (`- name: DB_PASSWORD` then
 * `value: …` in a pod spec, `{"name":"DB_PASSWORD","value":"…"}`, `{"Key":…,"Value":…}`,
 * `ParameterKey=DbPassword,ParameterValue=…`), a secret name holding an object whose `value` is
 * the secret (Spring actuator's `{"DB_PASSWORD":{"value":"…"}}`, `terraform output -json`), a
 * Terraform `output`/`variable` block, a table whose header names a secret column (psql, mysql,
 * Markdown), the cookies of a Cookie or Set-Cookie header (only the session-like ones), and the
 * password of a Go driver DSN (`user:…@tcp(host:3306)/db`). Everything but the secret is kept.
 */
import { type Detector, firstLineOf } from "./detector.js";
import { randomByCharacters } from "./entropy.js";
import { NAME_WORD_LIST } from "./key-values.js";
import { isSecretName } from "./named-values.js";
import { plainValueKind } from "./plain-values.js";
import { isGenericName } from "./secret-names.js";

/** A secret name with a value that is not plainly harmless. */
function secretPair(name: string | undefined, value: string): boolean {
  return name !== undefined && isSecretName(name.trim()) && plainValueKind(value) === undefined;
}

/** A quoted or bare value after `:` or `=` (named groups dq, sq, bare). */
const FIELD_VALUE = String.raw`(?:"(?<dq>(?:[^"\\\r\n]|\\.){1,4096})"|'(?<sq>[^'\r\n]{1,4096})'|(?<bare>[^\s,}\]"'][^\r\n,}\]]{0,4095}))`;
const NAME_FIELDS = `name|Name|NAME|key|Key|KEY|ParameterKey|parameterKey|parameter_name|ParameterName|variable|Variable|env|secretName|SecretName`;
const VALUE_FIELDS = `value|Value|VALUE|ParameterValue|parameterValue|parameter_value|SecretString|secretValue|plaintext|default`;

/** Cookie names that carry a session or a credential. */
const SESSION_COOKIE =
  /(?:^|[^a-z])(?:sess|sid|session|token|auth|jwt|csrf|xsrf|remember|login|identity|saml|oidc|access|refresh|credential|secret|pass|key)|^(?:__host-|__secure-)|sessid|sessionid|_session$|^connect\.sid$/i;
/** A cookie value random enough to be a session id without a telling name. */
function randomCookieValue(value: string): boolean {
  const core = value.replace(/%[0-9A-Fa-f]{2}/g, "").replace(/[^A-Za-z0-9+/_-]/g, "");
  if (core.length < 16) return false;
  return (
    randomByCharacters(core) || (/^[0-9a-f]{32,}$/i.test(core) && /[a-f]/i.test(core) && /[0-9]/.test(core))
  );
}

/** Masks the cookie values of `list` (`a=b; c=d`) that are secrets; `first` only for Set-Cookie. */
function maskCookies(list: string, onlyFirst: boolean, mask: (raw: string) => string): string {
  let out = "";
  let changed = false;
  const parts = list.split(/(;[ \t]*)/);
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (i % 2 === 1 || (onlyFirst && i > 0)) {
      out += part;
      continue;
    }
    const eq = part.indexOf("=");
    if (eq <= 0) {
      out += part;
      continue;
    }
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1);
    // A cookie value holds no blank (RFC 6265): what follows one is the line going on.
    const trail = /[ \t].*$/.exec(value)?.[0] ?? "";
    value = value.slice(0, value.length - trail.length);
    const quoted = value.length >= 2 && value.startsWith('"') && value.endsWith('"');
    const inner = quoted ? value.slice(1, -1) : value;
    const secret =
      inner !== "" &&
      plainValueKind(inner) === undefined &&
      (SESSION_COOKIE.test(name) || randomCookieValue(inner) || /^eyJ/.test(inner));
    if (secret) {
      changed = true;
      out += `${part.slice(0, eq + 1)}${quoted ? '"' : ""}${mask(inner)}${quoted ? '"' : ""}${trail}`;
    } else out += part;
  }
  return changed ? out : list;
}

/** Splits a table row on `|`, keeping the separators' positions. */
function cells(line: string): string[] {
  return line.split("|");
}

/** True for a table's rule line (`---+---`, `|---|:---|`, `+------+`). */
function ruleLine(line: string): boolean {
  return /^[ \t]*[|+]?[ \t]*[-=:+| \t]{3,}[ \t]*\r?$/.test(line) && /-{3}|={3}/.test(line);
}

/** Masks the secret columns of a `|` table whose first line is its header. */
function maskTable(table: string, mask: (raw: string) => string): string | undefined {
  const lines = table.split("\n");
  // The header is the first line naming a secret column (a line of another table, or a stray
  // `|`, may come first).
  let headerAt = -1;
  let header: string[] = [];
  const secretColumns = new Set<number>();
  for (let h = 0; h < lines.length - 1 && secretColumns.size === 0; h++) {
    // A header is a line above a rule line (`|---|`, `---+---`, `+----+`), as psql, mysql and
    // Markdown print it; its cells are names, not sentences.
    if (!ruleLine(lines[h + 1]!)) continue;
    header = cells(lines[h]!.replace(/\r$/, ""));
    headerAt = h;
    header.forEach((cell, i) => {
      const name = cell.trim();
      if (name !== "" && name.length <= 40 && name.split(/\s+/).length <= 3 && isSecretName(name))
        secretColumns.add(i);
    });
  }
  if (secretColumns.size === 0 || header.length < 2) return undefined;
  let changed = false;
  for (let n = headerAt + 1; n < lines.length; n++) {
    const line = lines[n]!;
    if (ruleLine(line)) continue;
    const row = cells(line.replace(/\r$/, ""));
    if (row.length !== header.length) break;
    for (const column of secretColumns) {
      const cell = row[column]!;
      const value = cell.trim();
      if (value === "" || plainValueKind(value) !== undefined || /^(?:null|NULL|\(null\)|-)$/.test(value))
        continue;
      const at = cell.indexOf(value);
      row[column] = cell.slice(0, at) + mask(value) + cell.slice(at + value.length);
      changed = true;
    }
    lines[n] = row.join("|") + (line.endsWith("\r") ? "\r" : "");
  }
  return changed ? lines.join("\n") : undefined;
}

/** Labels of PEM blocks that hold public material only. */
const PUBLIC_PEM_LABEL =
  "(?:CERTIFICATE|PUBLIC KEY|AGE ENCRYPTED FILE|PGP MESSAGE|ENCRYPTED MESSAGE|X509 CRL|CERTIFICATE REQUEST|NEW CERTIFICATE REQUEST|TRUSTED CERTIFICATE|PGP PUBLIC KEY BLOCK|SSH2 PUBLIC KEY|RSA PUBLIC KEY)";

/** A secret named in a sentence and given right after it: `with auth token cb0c…`, `API key is 4fda…`. */
const PROSE_SECRET =
  /(?<![\w-])(?:auth(?:entication)?[ _-]token|access[ _-]token|refresh[ _-]token|api[ _-]?key|api[ _-]token|secret[ _-]key|client[ _-]secret|signing[ _-]secret|webhook[ _-]secret|private[ _-]token|bot[ _-]token)[ \t]{1,3}(?:is[ \t]{1,3}|of[ \t]{1,3}|was[ \t]{1,3})?(?<secret>[A-Za-z0-9_./+=-]{16,512})(?![A-Za-z0-9_./+=-])/dgi;

/** True when a value given in a sentence looks like a key: long hex, or random by the entropy rule's tests. */
function keyLike(value: string): boolean {
  const core = value.replace(/[=.]+$/, "");
  if (/^[0-9a-f]{24,}$/i.test(core)) return /[0-9]/.test(core) && /[a-f]/i.test(core);
  return (
    core.length >= 16 &&
    /[0-9]/.test(core) &&
    /[A-Za-z]/.test(core) &&
    (randomByCharacters(core) ||
      // (a generated name, `kube-api-access-sw7lx`, is words joined by `-`)
      (/^[A-Za-z0-9_-]{20,}$/.test(core) && !/^[a-z][a-z0-9]*(?:-[a-z0-9]+)+$/.test(core)))
  );
}

/** Masks the lines of a YAML block scalar or list (`body`) under a secret name; undefined to keep them. */
function maskYamlBody(match: RegExpExecArray, mask: (raw: string) => string): string | undefined {
  const name = match.groups?.name;
  const body = match.groups?.body ?? match.groups?.items;
  if (name === undefined || body === undefined || !isSecretName(name) || isGenericName(name))
    return undefined;
  const list = match.groups?.items !== undefined;
  const head = match[0].slice(0, match[0].length - body.length);
  // `!vault |` (Ansible) is ciphertext, public by construction.
  if (/![A-Za-z]/.test(head.slice(head.indexOf(":") + 1))) return undefined;
  let changed = false;
  const lines = body.split("\n").map((line) => {
    const m = (
      list
        ? /^(?<lead>[ \t]{0,64}-[ \t]{1,4})(?<value>\S[^\r]{0,4095}?)(?<cr>\r?)$/
        : /^(?<lead>[ \t]{1,64})(?<value>\S[^\r]{0,4095}?)(?<cr>\r?)$/
    ).exec(line);
    const value = m?.groups?.value;
    if (!m?.groups || value === undefined || value.trim() === "" || value.trimStart().startsWith("#"))
      return line;
    // A list of mappings (`- name: x`) is judged by its own keys.
    if (list && /^[\p{L}_][\p{L}\p{N}_.-]{0,127}:(?:[ \t]|$)/u.test(value)) return line;
    if (plainValueKind(value.replace(/^["']|["']$/g, "")) !== undefined) return line;
    changed = true;
    return `${m.groups.lead}${mask(value)}${m.groups.cr}`;
  });
  return changed ? head + lines.join("\n") : undefined;
}

/** Masks the strings of a JSON array under a secret name. */
function maskJsonArray(match: RegExpExecArray, mask: (raw: string) => string): string | undefined {
  const name = match.groups?.name;
  const items = match.groups?.items;
  if (name === undefined || items === undefined || !isSecretName(name) || isGenericName(name))
    return undefined;
  let changed = false;
  const masked = items.replace(/"((?:[^"\\\r\n]|\\.){1,4096})"/g, (whole, value: string) => {
    if (plainValueKind(value) !== undefined) return whole;
    changed = true;
    return `"${mask(value)}"`;
  });
  if (!changed) return undefined;
  const at = match[0].lastIndexOf(items);
  return match[0].slice(0, at) + masked + match[0].slice(at + items.length);
}

/** The detectors of names one level above or one line away. */
export const STRUCTURE_DETECTORS: readonly Detector[] = [
  {
    id: "public-pem",
    description:
      "A certificate or public-key PEM block. Never masked: the rule only shows the entropy rule that the block's base64 lines are public (by growing the window to the whole block).",
    pattern: new RegExp(
      `-----BEGIN ${PUBLIC_PEM_LABEL}-----[\\s\\S]{0,65536}?(?:-----END ${PUBLIC_PEM_LABEL}-----|$)|(?:DKIM-Signature|ARC-Message-Signature|ARC-Seal|X-Google-DKIM-Signature):[^\\n]{0,4096}(?:\\r?\\n[ \\t][^\\n]{0,4096}){1,32}`,
      "dg",
    ),
    keywords: ["-----BEGIN ", "DKIM-Signature", "ARC-"],
    multiline: true,
    replace: () => undefined,
    samples: [],
    wholeLines: true,
  },
  {
    id: "name-value-pair",
    wholeLines: true,
    description:
      'A name field holding a secret name and the value field beside it or on the next line: `- name: DB_PASSWORD` / `value: …`, `{"name":"DB_PASSWORD","value":"…"}`, `{"Key":…,"Value":…}`, `ParameterKey=DbPassword,ParameterValue=…`.',
    ...firstLineOf(
      String.raw`(?<![\w-])(?<nq>["']?)(?:${NAME_FIELDS})\k<nq>[ \t]{0,3}[:=][ \t]{0,3}(?<q>["']?)(?<name>[^"'\s,}\]]{1,128})\k<q>`,
      String.raw`(?:[ \t]{0,3},[ \t\r\n]{0,64}"[A-Za-z]{1,32}"[ \t]{0,3}:[ \t]{0,3}(?:"[^"\\\r\n]{0,256}"|[A-Za-z0-9.]{1,32})){0,4}[ \t]{0,3},?[ \t]{0,3}(?:\r?\n[ \t]{0,64}-?[ \t]{0,3})?(?<vq>["']?)(?:${VALUE_FIELDS})\k<vq>[ \t]{0,3}[:=][ \t]{0,3}${FIELD_VALUE}`,
      "dg",
    ),
    keywords: NAME_WORD_LIST,
    keywordsIgnoreCase: true,
    // (the secret name is on the first line: the windows grow from it to the value line)
    quickCheck: (text) => /value|Value|VALUE|default|SecretString|plaintext/.test(text),
    multiline: true,
    secretGroups: ["dq", "sq", "bare"],
    validate: (secret, _text, _start, _end, match) => secretPair(match.groups?.name, secret.trim()),
    samples: [
      "        - name: DB_PASSWORD\n          value: {alnum:16}",
      '{"name":"API_TOKEN","value":"{alnum:24}"}',
      "ParameterKey=DbPassword,ParameterValue={alnum:16}",
    ],
  },
  {
    id: "nested-value",
    wholeLines: true,
    description:
      'A secret name whose value is an object holding the secret in `value` (Spring actuator env, `terraform output -json`, AWS SSM): `"DB_PASSWORD": {"value": "…"}`.',
    pattern:
      /"(?<name>[^"\\\r\n]{1,128})"[ \t]{0,3}:[ \t]{0,3}\{(?:[ \t\r\n]{0,64}"[A-Za-z_]{1,32}"[ \t]{0,3}:[ \t]{0,3}(?:"[^"\\\r\n]{0,256}"|[A-Za-z0-9.]{1,32})[ \t]{0,3},){0,4}[ \t\r\n]{0,64}"(?:value|Value|secretValue|plaintext)"[ \t]{0,3}:[ \t]{0,3}"(?<dq>(?:[^"\\\r\n]|\\.){1,4096})"/dg,
    // The name and the opening brace are on one line.
    keywords: ['":{', '": {', '" : {'],
    multiline: true,
    secretGroups: ["dq"],
    validate: (secret, _text, _start, _end, match) => secretPair(match.groups?.name, secret.trim()),
    samples: [
      '{"DB_PASSWORD":{"value":"{alnum:16}","origin":"System Environment Property \\"DB_PASSWORD\\""}}',
      '"db_password": {\n  "sensitive": true,\n  "value": "{alnum:18}"\n}',
    ],
  },
  {
    id: "nested-yaml-value",
    wholeLines: true,
    description:
      "A secret name on its own line and its value one level below: YAML `db_password:` then `value: …`.",
    ...firstLineOf(
      String.raw`^(?<indent>[ \t]{0,64})(?<yname>[\p{L}_][\p{L}\p{N}_.-]{0,127}):[ \t]{0,16}(?=\r?$)`,
      String.raw`\r?\n\k<indent>[ \t]{1,8}(?:value|default|secret):[ \t]{1,3}(?:"(?<ydq>[^"\r\n]{1,4096})"|'(?<ysq>[^'\r\n]{1,4096})'|(?<ybare>[^\s"'|>][^\r\n]{0,4095}))`,
      "dgmu",
    ),
    keywords: NAME_WORD_LIST,
    keywordsIgnoreCase: true,
    quickCheck: (text) =>
      text.includes("\n") && /:[ \t]{0,16}\r?\n[ \t]{1,72}(?:value|default|secret):/.test(text),
    multiline: true,
    secretGroups: ["ydq", "ysq", "ybare"],
    validate: (secret, _text, _start, _end, match) => secretPair(match.groups?.yname, secret.trim()),
    samples: ["db_password:\n  value: {alnum:16}\n"],
  },

  {
    id: "php-dump-value",
    wholeLines: true,
    description:
      'PHP\'s `var_dump` of an array: a secret-named key (`["password"]=>`) and its string on the next line (`string(12) "…"`).',
    ...firstLineOf(
      String.raw`\[["'](?<name>[^"'\]\r\n]{1,128})["'](?::(?:"[^"\r\n]{1,256}":)?(?:protected|private|public))?\]=>[ \t]{0,4}(?=\r?$)`,
      String.raw`\r?\n[ \t]{0,64}string\([0-9]{1,9}\)[ \t]{1,4}"(?<dq>[^"\r\n]{1,4096})"`,
      "dgm",
    ),
    keywords: NAME_WORD_LIST,
    keywordsIgnoreCase: true,
    quickCheck: (text) => text.includes("]=>"),
    multiline: true,
    secretGroups: ["dq"],
    validate: (secret, _text, _start, _end, match) => secretPair(match.groups?.name, secret),
    samples: ['  ["password"]=>\n  string(16) "{alnum:16}"'],
  },
  {
    id: "terraform-value",
    wholeLines: true,
    description:
      'A Terraform/HCL `output "db_password"` or `variable "api_token"` block: its `value` or `default` string.',
    ...firstLineOf(
      String.raw`(?<![\w-])(?:output|variable)[ \t]{1,4}"(?<name>[^"\r\n]{1,128})"[ \t]{0,4}\{`,
      String.raw`[^{}]{0,1024}?(?<![\w-])(?:value|default)[ \t]{0,8}=[ \t]{0,4}"(?<dq>(?:[^"\\\r\n]|\\.){1,4096})"`,
      "dg",
    ),
    keywords: ["output", "variable"],
    multiline: true,
    secretGroups: ["dq"],
    validate: (secret, _text, _start, _end, match) => secretPair(match.groups?.name, secret),
    samples: ['output "db_password" {\n  value     = "{alnum:16}"\n  sensitive = true\n}'],
  },
  {
    id: "yaml-block-value",
    wholeLines: true,
    description:
      "A YAML block scalar or list under a secret name (`password: |` then the value's lines, `api_keys:` then `- …` items): every value line is masked.",
    ...firstLineOf(
      String.raw`^(?<indent>[ \t]{0,64})(?:-[ \t]{1,4})?(?<name>[\p{L}_][\p{L}\p{N}_.-]{0,127}):[ \t]{0,4}(?=(?:(?:![A-Za-z0-9!/._-]{1,64}[ \t]{1,4})?[|>][+-]?[0-9]?[ \t]{0,4})?\r?$)`,
      String.raw`(?:(?:![A-Za-z0-9!/._-]{1,64}[ \t]{1,4})?[|>][+-]?[0-9]?[ \t]{0,4}\r?\n(?<body>(?:\k<indent>[ \t]{1,16}[^\n]{0,4096}(?:\n|$)){1,64})|\r?\n(?<items>(?:\k<indent>[ \t]{0,16}-[ \t][^\n]{0,4096}(?:\n|$)){1,64}))`,
      "dgmu",
    ),
    keywords: NAME_WORD_LIST,
    keywordsIgnoreCase: true,
    quickCheck: (text) =>
      text.includes("\n") &&
      /:[ \t]{0,16}(?:![^\s]{1,64}[ \t]{1,4})?(?:[|>][+-]?[0-9]?[ \t]{0,4})?\r?\n/.test(text),
    multiline: true,
    replace: (match, mask) => maskYamlBody(match, (raw) => mask(raw)),
    samples: ["tls_password: |\n  {alnum:20}\n", "api_keys:\n  - {alnum:24}\n  - {alnum:24}\n"],
  },
  {
    id: "json-array-value",
    wholeLines: true,
    description:
      'A JSON array of strings under a secret name (`"api_keys": ["…", "…"]`): each string masked.',
    pattern:
      /"(?<name>[^"\\\r\n]{1,128})"[ \t]{0,3}:[ \t]{0,3}\[(?<items>[ \t\r\n]{0,64}"(?:[^"\\\r\n]|\\.){0,4096}"(?:[ \t\r\n]{0,64},[ \t\r\n]{0,64}"(?:[^"\\\r\n]|\\.){0,4096}"){0,64})[ \t\r\n]{0,64}\]/dg,
    // The name and the opening bracket are on one line: `"api_keys": [`.
    keywords: ['":[', '": [', '" : ['],
    keywordsIgnoreCase: true,
    multiline: true,
    replace: (match, mask) => maskJsonArray(match, (raw) => mask(raw)),
    samples: ['"api_keys": ["{alnum:24}", "{alnum:24}"]'],
  },
  {
    id: "code-literal",
    description:
      'A string given with a secret name in code or a call: `define(\'DB_PASSWORD\', \'…\')`, `setenv("API_TOKEN", "…")`, `System.setProperty("db.password", "…")`, `put("password", "…")`, `.withPassword("…")`, `setApiKey(\'…\')`, `ENV API_TOKEN …`, `setenv API_TOKEN …`.',
    pattern: new RegExp(
      [
        String.raw`\([ \t]{0,3}(?<q1>["'])(?<name>[\p{L}_][\p{L}\p{N}_.-]{0,127})\k<q1>[ \t]{0,3},[ \t]{0,3}(?<q2>["'])(?<value>(?:(?!\k<q2>)[^\\\r\n]|\\.){1,4096})\k<q2>`,
        String.raw`(?<![\w$])(?<call>(?:set|with|use)?_?[A-Za-z_]{0,40}(?:[Pp]assword|[Ss]ecret|[Tt]oken|[Aa]pi[Kk]ey|[Pp]assphrase|[Cc]redentials?))[ \t]{0,2}\([ \t]{0,2}(?<q3>["'])(?<cvalue>(?:(?!\k<q3>)[^\\\r\n]|\\.){1,4096})\k<q3>[ \t]{0,2}\)`,
        String.raw`^[ \t]{0,16}(?:ENV|setenv|export|set)[ \t]{1,4}(?<dname>[A-Za-z_][A-Za-z0-9_]{0,127})[ \t]{1,8}(?<dq>["']?)(?<dvalue>[^\s"'=][^\r\n"']{0,4095}?)\k<dq>[ \t]{0,8}(?![^\r\n])`,
      ].join("|"),
      "dgmu",
    ),
    keywords: ["pass", "pwd", "secret", "token", "key", "cred", "auth", "jwt", "salt"],
    keywordsIgnoreCase: true,
    quickCheck: (text) => /\([ \t]{0,3}["']|(?:^|\n)[ \t]{0,16}(?:ENV|setenv|export|set)[ \t]/.test(text),
    secretGroups: ["value", "cvalue", "dvalue"],
    validate: (secret, _text, _start, _end, match) => {
      const g = match.groups ?? {};
      if (g.call !== undefined)
        return (
          plainValueKind(secret) === undefined &&
          !/^(?:get|is|has|validate|check|verify|hash|encode|decode|reset|rotate)/i.test(g.call)
        );
      return secretPair(g.name ?? g.dname, secret);
    },
    samples: ["define('DB_PASSWORD', '{alnum:16}');", 'builder.withPassword("{alnum:14}")'],
  },
  {
    id: "xml-pair-value",
    description:
      'An XML name element followed by its value element: a plist `<key>Password</key><string>…</string>`, Spring `<property name="password"><value>…</value></property>`, `<entry key="token"><value>…</value>`.',
    pattern:
      /(?:<key>(?<name>[^<>\r\n]{1,128})<\/key>|<(?:property|entry|param|parameter|setting)[ \t]{1,4}(?:name|key)="(?<aname>[^"\r\n]{1,128})"[ \t]{0,4}>)[ \t\r\n]{0,256}<(?<tag>string|data|value)>(?<secret>[^<\r\n]{1,4096})<\/\k<tag>>/dg,
    keywords: ["<key>", "<property", "<entry", "<param", "<setting"],
    multiline: true,
    wholeLines: true,
    secretGroups: ["secret"],
    validate: (secret, _text, _start, _end, match) =>
      secretPair(match.groups?.name ?? match.groups?.aname, secret),
    samples: ["<key>Password</key>\n<string>{alnum:16}</string>"],
  },
  {
    id: "terraform-change",
    description:
      'The new value of a secret-named attribute in a Terraform plan: `~ password = "old" -> "new"`, `~ password = (sensitive value) -> "new"`; both sides masked.',
    pattern:
      /(?<![\w-])(?<name>[A-Za-z_][\w.-]{0,127})[ \t]{0,32}=[ \t]{0,4}(?:"(?<old>[^"\r\n]{0,4096})"|\([a-z ]{1,32}\)|null)[ \t]{1,4}->[ \t]{1,4}"(?<dq>[^"\r\n]{1,4096})"/dg,
    keywords: ["->"],
    secretGroups: ["dq"],
    validate: (secret, _text, _start, _end, match) => secretPair(match.groups?.name, secret),
    samples: ['      ~ password = "{alnum:12}" -> "{alnum:14}"'],
  },
  {
    id: "secret-column",
    wholeLines: true,
    description:
      "The cells of a table's secret column (psql, mysql and Markdown tables): a `|`-separated header naming a password, token or secret column, and the rows under it.",
    pattern:
      /^[^\n|]{0,256}\|[^\n]{0,4096}(?:\n(?:[^\n|]{0,256}\|[^\n]{0,4096}|[ \t]{0,8}[-=+:][-=+: \t]{2,4096}\r?)){1,500}/dgm,
    // A table's header holds a `|` (a psql header line ` usename | passwd` too): the pipe wakes the
    // rule, the header's names decide (maskTable).
    keywords: ["|"],
    multiline: true,
    replace: (match, mask) => maskTable(match[0], (raw) => mask(raw)),
    samples: [" usename | passwd\n---------+----------------------\n app     | {alnum:20}"],
  },
  {
    id: "session-cookie",
    description:
      "The session-like cookies of a Cookie or Set-Cookie header (a session, token, auth… name, or a random value); other cookies (`theme=dark`, analytics ids) and attributes are kept.",
    pattern:
      /(?<![\w-])(?:(?<header>(?:[Ss]et-)?[Cc]ookie2?|COOKIE|SET-COOKIE)[ \t]{0,3}:[ \t]{0,3}(?<list>[^\r\n]{1,8192})|"(?<jheader>(?:[Ss]et-)?[Cc]ookie)"[ \t]{0,3}:[ \t]{0,3}\[?[ \t]{0,3}"(?<jlist>(?:[^"\\\r\n]|\\.){1,8192})")/dg,
    keywords: ["cookie"],
    keywordsIgnoreCase: true,
    replace: (match, mask) => {
      const list = match.groups?.list ?? match.groups?.jlist ?? "";
      const header = match.groups?.header ?? match.groups?.jheader ?? "";
      const masked = maskCookies(list, /^set/i.test(header), (raw) => mask(raw));
      if (masked === list) return undefined;
      const at = match[0].lastIndexOf(list);
      return match[0].slice(0, at) + masked + match[0].slice(at + list.length);
    },
    samples: [
      "Cookie: theme=dark; sessionid={alnum:32}",
      "Set-Cookie: JSESSIONID={hex:32}; Path=/; HttpOnly",
    ],
  },
  {
    id: "dsn-password",
    description: "The password of a Go SQL driver DSN: `user:…@tcp(host:3306)/db`, `@unix(/path)`.",
    pattern: /(?<![\w.-])[\w.-]{1,64}:(?<secret>[^\s@/'"]{1,256})@(?:tcp|unix|udp|tcp6)\(/dg,
    keywords: ["@tcp(", "@unix(", "@udp(", "@tcp6("],
    secretGroups: ["secret"],
    samples: ["app:{alnum:16}@tcp(db.internal:3306)/app?parseTime=true"],
  },
  {
    id: "secret-in-prose",
    description:
      "A key given right after its name in a sentence (`sending via account AC… with auth token cb0c…`, `API key is 4fda…`): long hex or a random-looking run.",
    pattern: PROSE_SECRET,
    // Each phrase ends in one of these words and a blank (`token_type=` is no phrase).
    keywords: ["token ", "token\t", "key ", "key\t", "secret ", "secret\t"],
    keywordsIgnoreCase: true,
    secretGroups: ["secret"],
    validate: (secret) => keyLike(secret) && plainValueKind(secret) === undefined,
    samples: ["sending SMS with auth token {hex:32}", "the API key is {alnum:12}{digit:2}{upper:2}{lower:4}"],
  },
];
