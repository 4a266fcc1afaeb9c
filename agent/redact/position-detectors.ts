/**
 * Secrets at a position rather than under a name: the password argument of the admin tools whose
 * flags say nothing (`mysql -pS3cr3t`, `redis-cli -a …`, `sshpass -p …`, `ldapsearch -w …`,
 * `htpasswd -b file user …`, `curl -u user:…`), the lines of configuration files whose format
 * puts it at a place (`requirepass …` in redis.conf, the fifth field of a `.pgpass` line, `password`
 * in `.netrc`), SQL statements that set one (`IDENTIFIED BY '…'`, `WITH PASSWORD '…'`), and
 * SMTP/IMAP/POP3/FTP transcripts (`AUTH PLAIN …`, the base64 answer after `334 UGFzc3dvcmQ6`,
 * `PASS …`). Only the secret is masked: the program, its flags and its other arguments stay.
 *
 * Each pattern names the program or the statement it reads, so a short flag is only read as a
 * password where that program defines it so (`-p` is a port, a path or a profile elsewhere).
 */
import { type Detector, firstLineOf } from "./detector.js";
import { isSecretName } from "./named-values.js";
import { plainValueKind } from "./plain-values.js";

/** A value after a flag: double-quoted, single-quoted, or bare up to a blank (named groups). */
const VALUE = String.raw`(?:"(?<dq>[^"\r\n]{1,256})"|'(?<sq>[^'\r\n]{1,256})'|(?<secret>[^\s'"|;&⟦][^\s|;&⟦]{0,255}))`;
const GROUPS = ["secret", "dq", "sq"];
/** Arguments of one command: no pipe, `;` or `&` between the program and the flag. */
const ARGS = String.raw`[^\r\n|;&]{0,512}?[ \t]`;
/** Not inside a longer word or path before the program's name. */
const PROGRAM_START = String.raw`(?<![\w.-])`;

/** A test runner's `PASS src/app.test.ts` is not an FTP password. */
const SOURCE_FILE = /^[\w./-]{1,200}\.(?:[cm]?[jt]sx?|py|rb|go|java|kt|php|rs|cs|swift|scala)$/;

/** True when a bare value reads as a value rather than as the next word of a sentence. */
function looksLikeValue(value: string): boolean {
  return (
    /[0-9A-Z!@#$%^&*+=~?/\\]/.test(value) && /[A-Za-z0-9]/.test(value) && plainValueKind(value) === undefined
  );
}

/** Detectors of secrets at a position. */
export const POSITION_DETECTORS: readonly Detector[] = [
  {
    id: "cli-password",
    description:
      "The password argument of a command-line tool whose flag says nothing: mysql/mariadb -pSECRET, redis-cli -a, sshpass -p, ldapsearch/ldapmodify -w, sqlcmd/bcp -P, mongo/mongosh -p, docker login -p, zip -P, 7z -pSECRET; program and other arguments kept.",
    pattern: new RegExp(
      [
        String.raw`${PROGRAM_START}(?:mysql|mysqldump|mysqladmin|mysqlimport|mysqlshow|mysqlcheck|mysqlpump|mysqlsh|mariadb|mariadb-dump|mariadb-admin)(?:\.exe)?(?=[ \t])${ARGS}-p(?!assword)${VALUE}`,
        String.raw`${PROGRAM_START}redis-cli(?:\.exe)?(?=[ \t])${ARGS}(?:-a|--pass)[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}sshpass(?=[ \t])${ARGS}-p[ \t]?${VALUE}`,
        String.raw`${PROGRAM_START}ldap(?:search|modify|add|delete|whoami|passwd|compare|modrdn|exop|url)(?=[ \t])${ARGS}-w[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}(?:sqlcmd|bcp|osql)(?:\.exe)?(?=[ \t])${ARGS}-P[ \t]?${VALUE}`,
        String.raw`${PROGRAM_START}(?:mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport|mongostat|mongotop)(?=[ \t])${ARGS}-p[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}(?:docker|podman|nerdctl|buildah|skopeo|helm)[ \t]{1,8}(?:registry[ \t]{1,8})?login(?=[ \t])${ARGS}-p[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}(?:zip|unzip|zipcloak)(?=[ \t])${ARGS}-P[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}(?:7z|7za|7zr)(?=[ \t])${ARGS}-p${VALUE}`,
        String.raw`${PROGRAM_START}(?:ssh-keygen)(?=[ \t])${ARGS}-[NP][ \t]{1,8}${VALUE}`,
      ].join("|"),
      "dg",
    ),
    keywords: [
      "mysql",
      "mariadb",
      "redis-cli",
      "sshpass",
      "ldap",
      "sqlcmd",
      "bcp",
      "osql",
      "mongo",
      // (`login`, `zip` and `http` alone wake the rule on too many log lines: the program names
      // as they appear before their arguments)
      "docker login",
      "podman login",
      "nerdctl login",
      "buildah login",
      "skopeo login",
      "registry login",
      "zip -",
      "zipcloak",
      "7z",
      "ssh-keygen",
    ],
    secretGroups: GROUPS,
    validate: (secret) => plainValueKind(secret) === undefined,
    samples: [
      "mysql -u root -p{alnum:14} -h db.internal app",
      "redis-cli -h cache -p 6379 -a {alnum:20} ping",
      "sshpass -p '{alnum:12}' ssh deploy@10.0.0.5",
      "ldapsearch -x -H ldap://ldap -D cn=admin,dc=example,dc=org -w {alnum:16} -b dc=example,dc=org",
      "sqlcmd -S db -U sa -P {alnum:16} -Q 'select 1'",
      "docker login -u ci -p {alnum:24} registry.example.com",
    ],
  },
  {
    id: "cli-credentials",
    description:
      "A password inside a command's argument: curl/wget -u user:SECRET, htpasswd -b file user SECRET, openssl -passin pass:SECRET, smbclient -U user%SECRET, rabbitmqctl add_user user SECRET, `echo user:SECRET | chpasswd`, `mc alias set NAME URL ACCESS SECRET`, `vault login TOKEN`.",
    pattern: new RegExp(
      [
        String.raw`${PROGRAM_START}(?:curl|wget|http|https|xh)(?=[ \t])${ARGS}(?:-u|--user|--proxy-user|-U|-a|--auth)[ \t]{1,8}['"]?[^\s:'"]{1,128}:(?<secret>[^\s'"]{1,256})`,
        String.raw`${PROGRAM_START}htpasswd[ \t]{1,8}(?:-[a-zA-Z]{0,8}n[a-zA-Z]{0,8}b[a-zA-Z]{0,8}|-[a-zA-Z]{0,8}b[a-zA-Z]{0,8}n[a-zA-Z]{0,8})[ \t]{1,8}(?:-[a-zA-Z]{1,8}[ \t]{1,8}){0,3}\S{1,128}[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}htpasswd[ \t]{1,8}-[a-zA-Z]{0,8}b[a-zA-Z]{0,8}[ \t]{1,8}(?:-[a-zA-Z]{1,8}[ \t]{1,8}){0,3}\S{1,256}[ \t]{1,8}\S{1,128}[ \t]{1,8}${VALUE}`,
        String.raw`(?<![\w-])-pass(?:in|out|word)?[ \t]{1,8}['"]?pass:(?<secret>[^\s'"]{1,256})`,
        String.raw`${PROGRAM_START}(?:smbclient|rpcclient|smbmap|smbget|mount\.cifs)(?=[ \t])${ARGS}-U[ \t]{0,8}['"]?[^\s%'"]{1,128}%(?<secret>[^\s'"]{1,256})`,
        String.raw`${PROGRAM_START}rabbitmqctl[ \t]{1,8}(?:add_user|change_password)[ \t]{1,8}['"]?[^\s'"]{1,128}['"]?[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}echo[ \t]{1,8}(?:-[ne][ \t]{1,8})?['"]?[\w.@-]{1,64}:(?<secret>[^\s'":]{1,256})['"]?[ \t]{0,8}\|[ \t]{0,8}(?:sudo[ \t]{1,8})?chpasswd`,
        String.raw`${PROGRAM_START}mc[ \t]{1,8}(?:alias[ \t]{1,8}set|config[ \t]{1,8}host[ \t]{1,8}add)[ \t]{1,8}\S{1,128}[ \t]{1,8}\S{1,512}[ \t]{1,8}\S{1,256}[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}vault[ \t]{1,8}login[ \t]{1,8}(?!-)${VALUE}`,
        String.raw`${PROGRAM_START}echo[ \t]{1,8}(?:-[ne][ \t]{1,8})?${VALUE}[ \t]{0,8}\|[ \t]{0,8}(?:sudo[ \t]{1,8})?(?:docker|podman|nerdctl|buildah|skopeo|helm|oras|crane)[ \t]{1,8}(?:registry[ \t]{1,8})?login\b[^\r\n|]{0,256}--password-stdin`,
        String.raw`${PROGRAM_START}az[ \t]{1,8}login(?=[ \t])${ARGS}(?:-p|--password)[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}consul[ \t]{1,8}kv[ \t]{1,8}put[ \t]{1,8}(?<kvname>[^\s]{1,256})[ \t]{1,8}${VALUE}`,
        String.raw`${PROGRAM_START}(?:sqlplus|sqlldr|expdp|impdp|exp|imp|rman|dgmgrl)(?=[ \t])(?:[ \t]{1,4}-[A-Za-z]{1,8}){0,3}[ \t]{1,4}['"]?[A-Za-z0-9_$#.]{1,64}\/(?<secret>[^\s@/'"]{1,256})(?![^@'" \t\r\n])`,
        String.raw`jdbc:oracle:[a-z]{1,8}:[A-Za-z0-9_$#.]{1,64}\/(?<secret>[^\s@/'"]{1,256})@`,
        String.raw`ConvertTo-SecureString[ \t]{1,8}(?:-String[ \t]{1,8})?${VALUE}`,
      ].join("|"),
      "dg",
    ),
    keywords: [
      "curl",
      "wget",
      "http ",
      "https ",
      "xh ",
      "htpasswd",
      "pass:",
      "-U",
      "rabbitmqctl",
      "chpasswd",
      "mc ",
      "vault",
      "sqlplus",
      "sqlldr",
      "expdp",
      "impdp",
      "exp ",
      "imp ",
      "rman",
      "dgmgrl",
      "jdbc:oracle:",
      "ConvertTo-SecureString",
      "--password-stdin",
      "az ",
      "consul",
    ],
    secretGroups: GROUPS,
    validate: (secret, _text, _start, _end, match) =>
      plainValueKind(secret) === undefined &&
      (match.groups?.kvname === undefined || isSecretName(match.groups.kvname)),
    samples: [
      "curl -sS -u admin:{alnum:16} https://api.example.com/v1/status",
      "htpasswd -bc /etc/nginx/.htpasswd ops {alnum:12}",
      "openssl pkcs12 -export -in c.pem -out c.p12 -passout pass:{alnum:12}",
      "rabbitmqctl add_user app {alnum:16}",
    ],
  },
  {
    id: "cli-secret-flag",
    description:
      "The value after a secret-named flag and a blank in a command line (`--password 'S3cr…'`, `-storepass …`, `--token …`), when it reads as a value (quoted, or holding a digit, a capital or a symbol).",
    pattern: new RegExp(
      // A value may start with `-` unless it plainly is the next flag (`--`, `-v`, `--log-level`),
      // as for argument vectors (attacker's pass on issue 17, finding L8: `--db-password -Xk9…`).
      String.raw`(?<![\w-])--?(?<name>[A-Za-z][A-Za-z0-9_.-]{0,63})[ \t]{1,8}(?!--(?![^\s])|-[A-Za-z]{1,2}(?![^\s])|--?[a-z][a-z0-9]{0,30}(?:[-_.][a-z0-9]{1,30}){0,6}(?:=|(?![^\s])))${VALUE}`,
      "dg",
    ),
    keywords: ["pass", "pwd", "secret", "token", "key", "auth", "cred", "pw"],
    keywordsIgnoreCase: true,
    secretGroups: GROUPS,
    validate: (secret, _text, _start, _end, match) => {
      const name = match.groups?.name;
      if (name === undefined || !isSecretName(name)) return false;
      return match.groups?.secret === undefined
        ? plainValueKind(secret) === undefined
        : looksLikeValue(secret);
    },
    samples: [
      "keytool -importcert -keystore ks.jks -storepass {alnum:14} -noprompt",
      "app --db-password '{alnum:12}' --port 8080",
    ],
  },
  {
    id: "config-password",
    wholeLines: true,
    description:
      "A password at its place in a configuration file: redis.conf `requirepass`/`masterauth`, a redis ACL `user … >SECRET`, the fifth field of a .pgpass line, `password` in .netrc (after machine/login, or alone on its line).",
    pattern: new RegExp(
      [
        String.raw`^[ \t]{0,8}(?:requirepass|masterauth|masteruser-password)[ \t]{1,8}${VALUE}`,
        // HAProxy's statistics page: `stats auth USER:PASSWORD`.
        String.raw`^[ \t]{0,8}stats[ \t]{1,8}auth[ \t]{1,8}[^:\s]{1,128}:(?<secret>[^\s]{1,256})`,
        String.raw`^[ \t]{0,8}(?:user|ACL[ \t]{1,8}SETUSER|acl[ \t]{1,8}setuser)[ \t]{1,8}\S{1,128}[^\r\n]{0,512}?[ \t]>(?<secret>[^\s]{1,256})`,
        String.raw`^[ \t]{0,8}(?:machine[ \t]{1,8}\S{1,253}|default)(?:[ \t]{1,8}(?:login|account|port)[ \t]{1,8}\S{1,253}){0,3}[ \t]{1,8}(?:password|passwd)[ \t]{1,8}${VALUE}`,
        String.raw`^[ \t]{0,8}login[ \t]{1,8}\S{1,253}[ \t]{1,8}(?:password|passwd)[ \t]{1,8}${VALUE}`,
        String.raw`^[ \t]{0,8}(?:password|passwd)[ \t]{1,8}(?<line>[^\s]{1,256})[ \t]{0,8}(?![^\r\n])`,
        String.raw`^ {0,8}(?:[a-z][\w-]{0,31} {1,8}){0,3}[\w.-]{0,64}?(?:password|passwd|secret|insecure-password|auth-pass|psk|pre-shared-key|community|key-string|auth-key|authentication-key)(?: {1,8}[0-9])? {1,8}(?<directive>[^\s#;]{1,256})[ \t]{0,8}(?![^\r\n])`,
      ].join("|"),
      "dgm",
    ),
    keywords: [
      "stats",
      "requirepass",
      "masterauth",
      "masteruser",
      ">",
      "password",
      "passwd",
      "secret",
      "psk",
      "pre-shared",
      "community",
      "key-string",
      "auth-key",
      "authentication-key",
      "auth-pass",
    ],
    keywordsIgnoreCase: true,
    secretGroups: ["secret", "dq", "sq", "line", "directive"],
    validate: (secret, _text, _start, _end, match) =>
      plainValueKind(secret) === undefined &&
      ((match.groups?.line === undefined && match.groups?.directive === undefined) || looksLikeValue(secret)),
    samples: [
      "requirepass {alnum:24}",
      "machine api.example.com login ci password {alnum:20}",
      "user worker on ~jobs:* +@all >{alnum:18}",
    ],
  },
  {
    id: "pgpass-password",
    wholeLines: true,
    description: "The password field of a .pgpass line (host:port:database:user:password).",
    pattern:
      /^(?:[^:\s]{1,253}):(?:[0-9]{1,5}|\*):(?:[^:\s]{1,63}):(?:[^:\s]{1,63}):(?<secret>(?:[^\s\\]|\\.){1,256})[ \t]{0,8}(?![^\r\n])/dgm,
    findCandidate: findPgpassLine,
    quickCheck: (text) => findPgpassLine(text, 0, text.length) >= 0,
    secretGroups: ["secret"],
    // An IPv6 address (`0:0:0:0:0:0:0:1`, `[fe80::1]`) has the shape of five fields too.
    validate: (secret, _text, _start, _end, match) =>
      plainValueKind(secret) === undefined && !/^[[\]0-9a-fA-F:.%]{1,64}$/.test(match[0]),
    samples: ["db.internal:5432:app:app_user:{alnum:20}", "*:*:*:replicator:{alnum:16}"],
  },
  {
    id: "redis-auth",
    wholeLines: true,
    description:
      "A Redis password in a transcript: `AUTH [user] SECRET` at a line's start, after a prompt (`127.0.0.1:6379> `) or a MONITOR record's `]`, `CONFIG SET requirepass|masterauth SECRET`; the command kept.",
    pattern: new RegExp(
      [
        String.raw`(?:^|(?<=>[ \t]{0,4})|(?<=\][ \t]{1,4}))"?AUTH"?[ \t]{1,8}(?!(?:PLAIN|LOGIN|XOAUTH2|OAUTHBEARER|CRAM-MD5|plain|login)\b)(?:"?[\w.@-]{1,64}"?[ \t]{1,8})?(?:"(?<dq>[^"\r\n]{1,256})"|(?<secret>[^\s"]{1,256}))[ \t]{0,8}(?![^\r\n])`,
        // `HELLO 3 AUTH user password` (RESP3 clients: ioredis, redis-py), in MONITOR's quoting too.
        String.raw`(?<![\w])"?HELLO"?[ \t]{1,8}"?[23]"?[ \t]{1,8}"?AUTH"?[ \t]{1,8}"?[^\s"]{1,128}"?[ \t]{1,8}(?:"(?<hdq>[^"\r\n]{1,256})"|(?<hsecret>[^\s"]{1,256}))`,
        String.raw`(?<![\w])"?CONFIG"?[ \t]{1,8}"?SET"?[ \t]{1,8}"?(?:requirepass|masterauth|masteruser)"?[ \t]{1,8}(?:"(?<cdq>[^"\r\n]{1,256})"|(?<csecret>[^\s"]{1,256}))`,
      ].join("|"),
      "dgim",
    ),
    keywords: ["AUTH", "requirepass", "masterauth"],
    keywordsIgnoreCase: true,
    secretGroups: ["secret", "dq", "csecret", "cdq", "hsecret", "hdq"],
    validate: (secret) =>
      looksLikeValue(secret) && !/^(?:PLAIN|LOGIN|XOAUTH2|OAUTHBEARER|CRAM-MD5|ok|OK)$/.test(secret),
    samples: [
      "127.0.0.1:6379> AUTH default {alnum:16}",
      '1700000000.1 [0 10.0.0.5:52311] "AUTH" "default" "{alnum:16}"',
    ],
  },
  {
    id: "sql-password",
    description:
      "A password set by an SQL statement: IDENTIFIED BY '…', WITH [ENCRYPTED] PASSWORD '…', SET PASSWORD = '…', PASSWORD('…'); the statement kept.",
    pattern:
      /(?<![\w'"$.-])(?:IDENTIFIED[ \t]{1,8}(?:WITH[ \t]{1,8}\w{1,64}[ \t]{1,8})?(?:BY|AS)[ \t]{1,8}|(?:ENCRYPTED[ \t]{1,8}|UNENCRYPTED[ \t]{1,8})?PASSWORD(?:[ \t]{1,8}|[ \t]{0,8}=[ \t]{0,8})(?:PASSWORD[ \t]{0,8}\([ \t]{0,8})?|PASSWORD[ \t]{0,8}\([ \t]{0,8})(?:'(?<sq>(?:[^'\r\n\\]|\\.|''){1,256})'|"(?<dq>[^"\r\n]{1,256})")/dgi,
    keywords: ["identified", "password"],
    keywordsIgnoreCase: true,
    secretGroups: ["sq", "dq"],
    validate: (secret) => plainValueKind(secret) === undefined,
    samples: [
      "ALTER USER app WITH PASSWORD '{alnum:16}';",
      "CREATE USER 'app'@'%' IDENTIFIED BY '{alnum:14}';",
    ],
  },
  {
    id: "printed-secret",
    wholeLines: true,
    description:
      "The output line of a command that prints one secret, right after the command at a shell prompt: `gcloud secrets versions access`, `vault kv get|read -field=…`, `aws secretsmanager get-secret-value … --output text`, `kubectl get secret … | base64 -d`, `op read`, `pass show`, `security find-generic-password -w`, `az keyvault secret show … -o tsv`.",
    ...firstLineOf(
      String.raw`^[^\n]{0,64}?[$#>%][ \t]{1,4}(?:sudo[ \t]{1,4})?(?:gcloud[ \t]{1,4}secrets[ \t]{1,4}versions[ \t]{1,4}access|vault[ \t]{1,4}(?:kv[ \t]{1,4}get|read)[^\n|]{0,256}?-field=|aws[ \t]{1,4}secretsmanager[ \t]{1,4}get-secret-value[^\n|]{0,512}?--output[ \t=]{1,4}text|kubectl[ \t]{1,4}get[ \t]{1,4}secrets?[^\n]{0,512}?\|[ \t]{0,4}base64[ \t]{1,4}(?:-d|--decode|-D)|op[ \t]{1,4}read|pass[ \t]{1,4}show|security[ \t]{1,4}find-generic-password[^\n]{0,256}?[ \t]-w|az[ \t]{1,4}keyvault[ \t]{1,4}secret[ \t]{1,4}show[^\n]{0,512}?(?:-o|--output)[ \t]{1,4}tsv)[^\n]{0,512}(?=\r?$)`,
      String.raw`\r?\n(?<secret>[^\s$#>%][^\s]{0,1023})[ \t]{0,8}\r?$`,
      "dgm",
    ),
    keywords: [
      "secrets versions access",
      "-field=",
      "get-secret-value",
      "base64",
      "op read",
      "pass show",
      "find-generic-password",
      "keyvault secret show",
    ],
    multiline: true,
    secretGroups: ["secret"],
    validate: (secret) => plainValueKind(secret) === undefined,
    samples: [
      "$ gcloud secrets versions access latest --secret=db-password\n{alnum:20}",
      "$ vault kv get -field=password secret/app\n{alnum:18}",
    ],
  },
  {
    id: "mail-auth",
    wholeLines: true,
    description:
      'Credentials in SMTP/IMAP/POP3/FTP transcripts: AUTH PLAIN/XOAUTH2/OAUTHBEARER responses, the base64 answer on the line after `334 UGFzc3dvcmQ6` ("Password:"), IMAP `LOGIN user …`, POP3/FTP `PASS …`.',
    pattern: new RegExp(
      [
        String.raw`(?<![\w])(?:AUTH|AUTHENTICATE)[ \t]{1,8}(?:PLAIN|XOAUTH2|OAUTHBEARER)[ \t]{1,8}(?<secret>[A-Za-z0-9+/]{4,8192}={0,2})`,
        String.raw`334[ \t]{1,8}(?:UGFzc3dvcmQ6|cGFzc3dvcmQ6)[^\n]{0,32}\n(?:[^\n]{0,200}\n){0,2}?(?:(?:[CS]|>>>|>>|>|->|send|client|C)[:]?[ \t]{1,4}|[ \t]{0,8})(?:b?['"])?(?<answer>[A-Za-z0-9+/]{2,4096}={0,2})(?:\\r\\n|\\r|\\n)?['"]?\)?[ \t\r]{0,8}(?=\n|$)`,
        String.raw`^(?:[^\n]{0,40}?[ \t])?(?:[A-Za-z0-9.]{1,16}[ \t]{1,8})?LOGIN[ \t]{1,8}(?:"[^"\r\n]{1,256}"|\S{1,256})[ \t]{1,8}(?:"(?<dq>[^"\r\n]{1,256})"|(?<bare>[^\s"]{1,256}))[ \t]{0,8}\r?$`,
        String.raw`^(?:(?:[CS]|>>>|>>|>|->|--->|send|client|\[client\])[:]?[ \t]{1,8})?PASS[ \t]{1,8}(?<pass>\S{1,256})[ \t]{0,8}\r?$`,
      ].join("|"),
      "dgm",
    ),
    keywords: ["AUTH", "UGFzc3dvcmQ6", "cGFzc3dvcmQ6", "LOGIN", "PASS"],
    multiline: true,
    secretGroups: ["secret", "answer", "dq", "bare", "pass"],
    validate: (secret, _text, _start, _end, match) =>
      (match.groups?.bare === undefined && match.groups?.pass === undefined) ||
      (looksLikeValue(secret) && !SOURCE_FILE.test(secret)),
    samples: [
      "AUTH PLAIN {b64:40}",
      "S: 334 UGFzc3dvcmQ6\nC: {b64:20}",
      "a1 LOGIN bob {alnum:14}",
      "PASS {alnum:12}",
    ],
  },
];

/** A .pgpass line: four colon-separated fields, the second a port or `*`, then the password. */
const PGPASS_LINE = /[^:\s]{1,253}:(?:[0-9]{1,5}|\*):[^:\s]{1,63}:[^:\s]{1,63}:\S/y;

/**
 * False when text[at, end) (one line) cannot be a .pgpass line: its fields hold no blank and only
 * blanks may follow the password, so a blank followed by more on the line rules it out unless a
 * backslash escapes it (`pass\ word`). Most log lines have a blank after their timestamp: this
 * spares them the pattern (the prefilter's costliest step before it).
 */
function mayBePgpassLine(text: string, at: number, end: number): boolean {
  let blank = at;
  while (blank < end && text.charCodeAt(blank) !== 32 && text.charCodeAt(blank) !== 9) blank++;
  if (blank === end || text.charCodeAt(blank - 1) === 92) return true;
  for (let i = blank + 1; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 13) return true;
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

/** The start of the first line in text[from, to) shaped like a .pgpass line, or -1. */
function findPgpassLine(text: string, from: number, to: number): number {
  for (let at = from; at < to; ) {
    const c = text.charCodeAt(at);
    // A host name, an address, a socket directory (`/var/run/postgresql`) or `*` starts the
    // line; blanks and most punctuation do not.
    const next = text.indexOf("\n", at);
    const end = next < 0 || next > to ? to : next;
    if (
      (c === 42 ||
        c === 46 ||
        c === 47 ||
        c === 95 ||
        c === 91 ||
        (c >= 48 && c <= 57) ||
        (c >= 65 && c <= 90) ||
        (c >= 97 && c <= 122)) &&
      mayBePgpassLine(text, at, end)
    ) {
      PGPASS_LINE.lastIndex = at;
      if (PGPASS_LINE.test(text)) return at;
    }
    if (next < 0 || next >= to) return -1;
    at = next + 1;
  }
  return -1;
}
