/**
 * The classes the second corpus's tune slice (tune-b) showed the engine missing or mangling, each
 * written here in its own words rather than copied from the corpus: secrets at a place (PHP dumps,
 * HAProxy, HTTPie, Redis HELLO, LDIF `::`), public material by its shape or name (images and
 * readable text in base64, `public key:`, WireGuard peers, algorithm names, PGP key ids) and
 * references (placeholders in angle brackets, Octopus and Grafana variables, names of sessions and
 * cookies, commands run for a value).
 */
import { describe, expect, it } from "vitest";
import { redactor } from "./samples.js";

const SECRET = "Tr0ub4dor&Horse";
const r = redactor();

function gone(out: string, secret = SECRET): boolean {
  for (let i = 0; i + 8 <= secret.length; i++) if (out.includes(secret.slice(i, i + 8))) return false;
  return true;
}

describe("corpus B classes: secrets at a place are masked", () => {
  it.each([
    [
      "PHP var_dump",
      `array(2) {\n  ["user"]=>\n  string(3) "app"\n  ["db_password"]=>\n  string(15) "${SECRET}"\n}`,
    ],
    ["PHP print_r", `Array\n(\n    [MAIL_PASSWORD] => ${SECRET}\n)`],
    ["HAProxy stats auth", `listen stats\n    stats auth admin:${SECRET}`],
    ["HTTPie -a", `http -a deploy:${SECRET} GET https://repo.example.org/status`],
    ["HTTPie --auth", `https --auth ci:${SECRET} POST https://api.example.org/build`],
    [
      "Redis HELLO AUTH in MONITOR",
      `1740790285.4 [0 10.0.0.5:5683] "HELLO" "3" "AUTH" "default" "${SECRET}"`,
    ],
    ["LDIF base64 value after ::", `olcRootPW:: ${Buffer.from(SECRET).toString("base64")}`],
    ["camel-case PW name", `bindPW: ${SECRET}`],
    [
      "JSON escaped two levels deep",
      JSON.stringify({ log: JSON.stringify({ payload: JSON.stringify({ db: { password: SECRET } }) }) }),
    ],
    [
      "the output of gcloud secrets versions access",
      `$ gcloud secrets versions access 3 --secret=api-key\n${SECRET}`,
    ],
    ["the output of vault -field", `$ vault kv get -field=password kv/app\n${SECRET}\n$ exit`],
    [
      "the output of kubectl … | base64 -d",
      `$ kubectl get secret db -o jsonpath='{.data.password}' | base64 -d\n${SECRET}`,
    ],
  ])("%s", (_name, text) => {
    const secret = text.includes(Buffer.from(SECRET).toString("base64"))
      ? Buffer.from(SECRET).toString("base64")
      : SECRET;
    expect(gone(r.maskText(text), secret)).toBe(true);
  });

  it("a Telegram bot token inside a URL path, bot id included", () => {
    const token = `5550001234:AA${"Kq9xZ_3vLm8NwR2tYp6sD1fG4hJ7kUe0o"}`;
    const out = r.maskText(`POST https://api.telegram.org/bot${token}/sendMessage failed`);
    expect(out).not.toContain("5550001234");
    expect(gone(out, token)).toBe(true);
  });

  it("a PGP key id's shape under a password name, and base64 of a .netrc, stay secrets", () => {
    expect(r.maskText("password: 7D778B34433BEA38")).not.toContain("7D778B34433BEA38");
    const netrc = Buffer.from("machine api.example.com login ci password hunter2word").toString("base64");
    expect(r.maskText(`netrc: ${netrc}`)).not.toContain(netrc.slice(0, 16));
  });

  it.each([
    [
      "L-E a private key's base64 under public key:",
      "public key: MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKjMzEfYyjiWA4R4",
    ],
    ["L-E a random value under peer:", "peer: Zq9Lx2Wm8Rt4Yp7Ks3Dv6Hn1Bg5Jc0FaZq9Lx2Wm8Rt4Yp7Ks3Dv6Hn1Bg"],
    [
      "L-L an HMAC key in upper-case hex under JWT_SIGNING_KEY",
      "JWT_SIGNING_KEY=9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B",
    ],
    ["L-D Vault AppRole's secret_id", "secret_id=6a1e4c2b-93f0-4d7e-b1a5-7c2e9f8d3b10"],
    [
      "L-C PHP var_dump of a protected property",
      '  ["db_password":protected]=>\n  string(12) "Xk9pQ2vLm8rT"',
    ],
  ])("short attack on the corpus B rules, %s", (_name, text) => {
    // The secret is the last token of each line.
    const secret = /"?([^\s"=]{12,})"?$/.exec(text)?.[1] ?? "";
    expect(secret.length).toBeGreaterThanOrEqual(12);
    expect(gone(r.maskText(text), secret)).toBe(true);
  });

  it("a session id is still masked under a session name", () => {
    expect(gone(r.maskText(`session: a81f${SECRET}`), SECRET)).toBe(true);
  });
});

describe("corpus B classes: public material and references are kept", () => {
  const png = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    Buffer.from("Zq9Lx2Wm8Rt4Yp7Ks3Dv6Hn1Bg5Jc0Fa".repeat(3)),
  ]).toString("base64");
  const readable = Buffer.from("worker_processes 4;\nevents { worker_connections 1024; }\n").toString(
    "base64",
  );
  it.each([
    ["a PNG in a ConfigMap's binaryData", `binaryData:\n  logo.png: ${png}`],
    ["readable text in base64", `data:\n  nginx.conf.b64: ${readable}`],
    ["public key: in words", "  public key: KRI5oUvx7IQ+e/o32qAHMxCRtV7rQxcSLhCWzd9TzL4="],
    ["a WireGuard peer", "peer: GS37hCBfwWB63HDqZ/O+zW5HDVkNF8OoCZxoRAdi2yU="],
    [
      "a host key algorithm",
      "debug1: Server host key: ssh-ed25519 SHA256:uDAD1aAgGHmNhMKpia3h+zjtZfLNS+EyAlCw0yYvN5A",
    ],
    ["a signature algorithm", "peer certificate: 2048 bit RSA, signature: RSA-SHA256"],
    ["a PGP key id", "\tsigningkey = 7D778B34433BEA38"],
    ["an angle-bracket placeholder", '<user username="tomcat" password="<must-be-changed>" roles="tomcat"/>'],
    ["an Octopus variable", '"ClientSecret": "#{AzureAdClientSecret}#",'],
    ["a Grafana file provider", "admin_password = __file{/etc/grafana/secrets/admin_password}"],
    ["a quoted mask", "API_KEY\t'********************'"],
    ["a list opening", "AUTH_PASSWORD_VALIDATORS = ["],
    ["a section name under a session name", "sso_session = acme"],
    ["a cookie's name", "    [cookie] => orders_session"],
    ["a command run for a value", "credential_process = /usr/local/bin/aws-vault exec prod --json"],
    [
      "a generated volume name after an api-token word",
      "unattached volumes=[api-token kube-api-access-sw7lx]",
    ],
    [
      "an id ending in hex inside an ARN",
      '"Arn": "arn:aws:sts::755404978988:assumed-role/AWSReservedSSO_Admin_92e875d299ac0e09/jane@example.com"',
    ],
    [
      "a request id named one field away",
      '{ "name": "x-amz-cf-id", "value": "puijL26uwFl_aFXrLOdkKpIJarQuYRlvWTqLVuxN78VEhwTq7skhgL==" }',
    ],
  ])("%s", (_name, text) => {
    expect(r.maskText(text)).toBe(text);
  });
});
