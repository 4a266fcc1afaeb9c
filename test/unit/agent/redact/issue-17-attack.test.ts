/**
 * The attacker's pass on issue 17 (docs and the built CLI only): each finding the engine now
 * handles, named after it. A secret is "gone" when no 8 characters of it are left in the output.
 */
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { threadCpuMs } from "../../../helpers/thread-cpu.js";
import { redactor } from "./samples.js";

const SECRET = "CorrectHorse42";
const r = redactor();

function gone(out: string, secret = SECRET): boolean {
  for (let i = 0; i + 8 <= secret.length; i++) if (out.includes(secret.slice(i, i + 8))) return false;
  return true;
}

describe("issue 17 attack: leaks", () => {
  it.each([
    [
      "L1 JSON inside a JSON string",
      `{"log":"{\\"level\\":\\"info\\",\\"password\\":\\"${SECRET}\\"}\\n","stream":"stdout"}`,
    ],
    ["L1 HTML-escaped JSON", `<script>var cfg = {&quot;password&quot;:&quot;${SECRET}&quot;}</script>`],
    ["L2 a session id", `SESSION_ID=${SECRET}abcdef`],
    ["L2 a session id in JSON", `{"sessionId": "${SECRET}abcdef"}`],
    [
      "L3 SSM's Name, Type, Value",
      `{"Name": "/prod/db/password", "Type": "SecureString", "Value": "${SECRET}"}`,
    ],
    ["L4 a Terraform change", `      ~ password = "OldPassword99" -> "${SECRET}"`],
    [
      "L4 a Terraform change from a sensitive value",
      `      ~ master_password = (sensitive value) -> "${SECRET}"`,
    ],
    ["L5 CDATA", `<password><![CDATA[${SECRET}]]></password>`],
    ["L5 a namespace prefix", `<ns2:Password>${SECRET}</ns2:Password>`],
    ["L5 WS-Security", `<wsse:Password Type="x#PasswordText">${SECRET}</wsse:Password>`],
    ["L5 a plist", `<key>Password</key>\n<string>${SECRET}</string>`],
    ["L5 a Spring property", `<property name="password">\n  <value>${SECRET}</value>\n</property>`],
    ["L6 redis MONITOR", `1700000000.123456 [0 10.0.0.5:52311] "AUTH" "default" "${SECRET}"`],
    ["L6 the redis-cli prompt", `127.0.0.1:6379> AUTH default ${SECRET}`],
    ["L6 CONFIG SET requirepass", `127.0.0.1:6379> CONFIG SET requirepass "${SECRET}"`],
    ["L7 a quote inside an env value", `DB_PASSWORD=Abc'${SECRET}`],
    ["L7 a slash in a URL's password", `postgres://app:Abc/${SECRET}@db:5432/app`],
    [
      "L7 a blank in a connection string's value",
      `Server=db;User Id=app;Password=Abc ${SECRET};Database=app`,
    ],
    ["L7 ODBC braces", `Driver={ODBC};PWD={Abc;${SECRET}};Server=db`],
    ["L7 a passphrase on a line of its own", `PASSWORD=correct ${SECRET} battery staple`],
    ["L7 a doubled quote in YAML", `password: 'Correct''${SECRET}'`],
    ["L8 a flag's value starting with -", `app --db-password -Xk${SECRET} --port 80`],
    [
      "L13 echo into docker login --password-stdin",
      `echo ${SECRET} | docker login -u bot --password-stdin registry.example.com`,
    ],
    ["L13 az login -p", `az login --service-principal -u app -p ${SECRET}~Xyz --tenant t`],
    ["L13 consul kv put", `consul kv put app/db/password ${SECRET}`],
  ])("%s", (_finding, text) => {
    const out = r.maskText(text);
    expect(gone(out), out).toBe(true);
    expect(out.split("\n")).toHaveLength(text.split("\n").length);
  });

  it("L13 keeps the registry of a --password-stdin login", () => {
    expect(
      r.maskText(`echo ${SECRET} | docker login -u bot --password-stdin registry.example.com`),
    ).toContain("--password-stdin registry.example.com");
  });
});

describe("issue 17 attack: damage", () => {
  it("D1 a JSON number under a secret name stays JSON", () => {
    const out = r.maskText('{"user":"a","password":123456789012,"n":1}');
    expect(() => JSON.parse(out)).not.toThrow();
    expect(gone(out, "123456789012")).toBe(true);
  });

  it.each([
    ["D2 Go %+v", `{Host:db User:app Password:${SECRET}! Port:5432}`, " Port:5432}"],
    [
      "D2 a Java toString",
      `User[name=bob,password=${SECRET},email=bob@example.com,role=admin]`,
      ",email=bob@example.com,role=admin]",
    ],
    ["D2 a YAML flow map", `{password: ${SECRET}, user: app}`, ", user: app}"],
  ])("%s keeps the fields after the secret", (_finding, text, kept) => {
    const out = r.maskText(text);
    expect(gone(out)).toBe(true);
    expect(out.endsWith(kept), out).toBe(true);
  });

  it.each([
    ["D3 an S3 key", '{"Key": "logs/2024/01/01/app.log.gz"}'],
    ["D3 a UUID under key", '{"key": "550e8400-e29b-41d4-a716-446655440000"}'],
    ["D3 an i18n key", '{"key": "checkout.button.submitOrder2"}'],
    ["D3 Tomcat auth", '<Resource name="jdbc/app" auth="Container" type="javax.sql.DataSource"/>'],
    ["D3 MongoDB auth options", "mongodb://host/?auth_mechanism=SCRAM-SHA-256 auth_source=admin"],
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the text is a GitHub Actions expression
    ["D3 a GitHub Actions expression", "TOKEN: ${{ secrets.GITHUB_TOKEN }}"],
    ["D4 a comparison", "if (password === confirmPassword) {"],
    ["D4 SQL parameters", "SELECT * FROM sessions WHERE token = ? AND user_id = ?"],
    ["D4 a TypeScript field", "  password: string;"],
    ["D4 a FastAPI parameter", "session: Session = Depends(get_db)):"],
    ["D4 a prompt", 'password = getpass.getpass("Password: ")'],
  ])("%s is left alone", (_finding, text) => {
    expect(r.maskText(text)).toBe(text);
  });
});

describe("issue 17: DER is public by its shape only when it is", () => {
  const keys = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "der" },
    privateKeyEncoding: { type: "pkcs8", format: "der" },
  });
  const encrypted = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "der" },
    privateKeyEncoding: { type: "pkcs8", format: "der", cipher: "aes-256-cbc", passphrase: "x" },
  }).privateKey;
  it("keeps a public key's base64 DER, masks a private key's, encrypted or not", () => {
    expect(r.maskText(`blob ${keys.publicKey.toString("base64")}`)).not.toContain("⟦");
    expect(r.maskText(`blob ${keys.privateKey.toString("base64")}`)).toContain("⟦");
    expect(r.maskText(`blob ${encrypted.toString("base64")}`)).toContain("⟦");
  });
  it("a name that says public and secret stays secret", () => {
    expect(r.maskText("PUBLIC_SECRET=Xk3pQ9aLm2Zq")).toContain("⟦masked:secret-name:");
  });
});

describe("issue 17 attack: robustness", () => {
  it.each([
    ["R1 key= repeated", "key=".repeat(1000)],
    ["R1 session= repeated", "session=".repeat(500)],
    ["R1 KEY= repeated", "KEY=".repeat(1000)],
  ])("%s to 4 KB is masked in well under a second", (_finding, text) => {
    expect(threadCpuMs(() => r.maskText(text))).toBeLessThan(1000);
  });

  it("R2 masking a block is linear in its lines: 10,000 lines with a random id each", () => {
    const line = (i: number) =>
      `10.0.0.${i % 255} - - [01/May/2024:10:00:00 +0000] "GET /api/orders?id=${i} HTTP/1.1" 200 512 req=${Buffer.from(
        `x${i * 7919}y${i}`,
      )
        .toString("base64url")
        .padEnd(32, "Ab3dE9")}`;
    const small = Array.from({ length: 2500 }, (_, i) => line(i)).join("\n");
    const large = Array.from({ length: 10_000 }, (_, i) => line(i)).join("\n");
    r.maskText(small);
    const smallMs = threadCpuMs(() => r.maskText(small));
    const largeMs = threadCpuMs(() => r.maskText(large));
    // Four times the lines: about four times the time, far from the sixteen of a quadratic cost.
    expect(largeMs).toBeLessThan(10 * Math.max(smallMs, 20));
  });
});
