import { describe, expect, it } from "vitest";
import { MIN_KNOWN_VALUE_LENGTH } from "../../../../agent/redact/index.js";
import { expand, redactor, rulesIn } from "./samples.js";

const FP = "[0-9a-f]{12}";
const masked = (rule: string) => `⟦masked:${rule}:${FP}⟧`;
const re = (pattern: string) => new RegExp(`^${pattern}$`);

describe("maskText: secret names in text", () => {
  const r = redactor();

  it.each([
    ["password=hunter2hunter2 user=app", `password=${masked("secret-name")} user=app`],
    ["db_password: hunter2 hunter2", `db_password: ${masked("secret-name")}`],
    ['{"apiKey": "abc123def456", "user": "x"}', `\\{"apiKey": "${masked("secret-name")}", "user": "x"\\}`],
    ["{'client_secret':'abc123def456'}", `\\{'client_secret':'${masked("secret-name")}'\\}`],
    ["run --token=abc123def456 --verbose", `run --token=${masked("secret-name")} --verbose`],
    [
      "GET /cb?code=1&access_token=abc123def456&state=x",
      `GET /cb\\?code=1&access_token=${masked("url-query-secret")}&state=x`,
    ],
    ["X-Api-Key: abc123def456", `X-Api-Key: ${masked("secret-name")}`],
    // Only the session cookie: `theme=dark` stays (issue 17: whole cookie headers were masked).
    ["Cookie: sid=abc123; theme=dark", `Cookie: sid=${masked("session-cookie")}; theme=dark`],
    // A parameter list keeps all but its secret part (issue 17).
    [
      "Authorization: Digest username=x, response=abc123",
      `Authorization: Digest username=x, response=${masked("secret-name")}`,
    ],
    [
      "level=info msg=started session: abc123def456",
      `level=info msg=started session: ${masked("secret-name")}`,
    ],
    ["export DB_PASSWORD='p@ss w0rd'", `export DB_PASSWORD='${masked("secret-name")}'`],
  ])("%s", (text, expected) => {
    expect(r.maskText(text)).toMatch(re(expected));
  });

  it("finds a secret key=value nested in the value of an ordinary key", () => {
    expect(r.maskText("args: --password=abc123def456")).toMatch(
      re(`args: --password=${masked("secret-name")}`),
    );
  });

  it("masks the whole of a value longer than the pattern's bound", () => {
    const long = "a".repeat(10_000);
    expect(r.maskText(`token=${long} next`)).toMatch(re(`token=${masked("secret-name")} next`));
    expect(r.maskText(`token: ${long}\nnext`)).toMatch(re(`token: ${masked("secret-name")}\nnext`));
  });

  it.each([
    "password_min_length=12",
    "token_ttl: 3600",
    "session_timeout=30s",
    "auth_enabled: true",
    "password_file=/run/secrets/db",
    "secret_name: db-credentials",
    "author=jane tokenizer_path=/models/tok.json",
    "password:",
    "token= ",
  ])("keeps %s", (text) => {
    expect(r.maskText(text)).toBe(text);
  });
});

describe("finding 6: names written the PHP, Perl, Ruby and tab-separated ways", () => {
  const r = redactor();
  /** The output with each secret-name marker as M. */
  const shown = (text: string) => r.maskText(text).replace(new RegExp(masked("secret-name"), "g"), "M");

  it.each([
    ["'password' => 'hunter2-secret-99',", "'password' => 'M',"],
    ['"db_password" => "hunter2-secret-99",', '"db_password" => "M",'],
    ["my %cfg = (password => 'hunter2-secret-99');", "my %cfg = (password => 'M');"],
    [':api_token => "abc123def456ghi"', ':api_token => "M"'],
    ["$cfg['db_pass'] = 'hunter2-secret-99';", "$cfg['db_pass'] = 'M';"],
    ["PASSWORD\thunter2-secret-99", "PASSWORD\tM"],
    ["DB_PASSWORD\t\tcorrect horse battery\tnext", "DB_PASSWORD\t\tM\tnext"],
  ])("finding 6: %s", (text, expected) => {
    expect(shown(text)).toBe(expected);
  });

  it.each(["token_type\tbearer", "password_min_length => 12", "PASSWORD\t", "auth\ttrue"])(
    "keeps %s",
    (text) => {
      expect(r.maskText(text)).toBe(text);
    },
  );
});

describe("maskText: structure", () => {
  const r = redactor();

  it("keeps the number of lines, whatever is masked", () => {
    const text = [
      "line one",
      `token: ${expand("ghp_{alnum:36}", 1)}`,
      "",
      `url postgres://u:${expand("{alnum:12}", 2)}@h/db`,
      "-----BEGIN PRIVATE KEY-----",
      expand("{b64:64}", 3),
      "-----END PRIVATE KEY-----",
      "password=x\r",
      "last",
    ].join("\n");
    const out = r.maskText(text);
    expect(out.split("\n").length).toBe(text.split("\n").length);
    expect(out.split("\n")[0]).toBe("line one");
    expect(out.split("\n").at(-1)).toBe("last");
  });

  it("is idempotent on masked text", () => {
    const text = `a=1 password=hunter2hunter2 key: ${expand("AKIA{b32:16}", 3)} Bearer ${expand("{b64url:32}", 3)}`;
    const once = r.maskText(text);
    expect(r.maskText(once)).toBe(once);
  });

  it("leaves text without secrets byte for byte", () => {
    const text = "2024-05-01T10:00:00Z INFO GET /api/orders?id=7 200 12ms pid=41 host=web-1\n";
    expect(r.maskText(text)).toBe(text);
  });
});

describe("maskText: known values", () => {
  it("masks a remembered value wherever it reappears, with its fingerprint", () => {
    const r = redactor();
    const secret = "plain-looking-value-42";
    expect(r.maskText(`connect using ${secret} now`)).toBe(`connect using ${secret} now`);
    r.remember(secret);
    expect(r.maskText(`connect using ${secret} now`)).toBe(
      `connect using ⟦masked:known-value:${r.fingerprint(secret)}⟧ now`,
    );
  });

  it("remembers the secret parts of a value too (the password of a URL)", () => {
    const r = redactor();
    r.remember("postgres://app:s3cr3t-pass@db:5432/app");
    expect(r.maskText("PGPASSWORD is s3cr3t-pass")).toBe(
      `PGPASSWORD is ⟦masked:known-value:${r.fingerprint("s3cr3t-pass")}⟧`,
    );
  });

  it(`ignores values shorter than ${MIN_KNOWN_VALUE_LENGTH} characters`, () => {
    const r = redactor();
    r.remember("admin");
    expect(r.maskText("admin logged in")).toBe("admin logged in");
  });

  it("masks the longer of two overlapping known values whole", () => {
    const r = redactor();
    r.remember("abcdefgh");
    r.remember("abcdefgh-ijklmnop");
    expect(rulesIn(r.maskText("x abcdefgh-ijklmnop y abcdefgh"))).toEqual(["known-value", "known-value"]);
    expect(r.maskText("x abcdefgh-ijklmnop y")).toBe(
      `x ⟦masked:known-value:${r.fingerprint("abcdefgh-ijklmnop")}⟧ y`,
    );
  });

  it("forgets the oldest value beyond its bound", async () => {
    const { createRedactor } = await import("../../../../agent/redact/index.js");
    const r = createRedactor({ fingerprintKey: new Uint8Array(16).fill(1), maxKnownValues: 2 });
    r.remember("first-value");
    r.remember("second-value");
    r.remember("third-value");
    expect(r.maskText("first-value")).toBe("first-value");
    expect(rulesIn(r.maskText("second-value third-value"))).toEqual(["known-value", "known-value"]);
  });
});
