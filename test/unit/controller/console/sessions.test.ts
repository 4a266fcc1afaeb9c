import { describe, expect, it } from "vitest";
import { SessionStore } from "../../../../controller/console/sessions.js";
import type { Principal } from "../../../../controller/identity/principal.js";
import type { TokenRecord } from "../../../../controller/store/types.js";

const principal: Principal = {
  subject: "user:bob@example.com",
  groups: ["sre"],
  credential: { kind: "token", id: "abc" },
};

function setUp() {
  let now = 1_000_000;
  const tokens = new Map<string, TokenRecord>([
    [
      "abc",
      {
        id: "abc",
        subject: principal.subject,
        groups: ["sre"],
        secretHash: "x",
        createdAt: 0,
        expiresAt: now + 86_400_000,
        revokedAt: undefined,
      },
    ],
  ]);
  const store = new SessionStore({ getToken: async (id) => tokens.get(id) }, () => now, {
    idleMs: 60_000,
    maxMs: 600_000,
  });
  return { store, tokens, tick: (ms: number) => (now += ms) };
}

describe("console sessions", () => {
  it("hands out a random cookie, keeps no copy of it in the session, and knows only that exact value", async () => {
    const { store } = setUp();
    const { cookie, session } = store.open(principal);
    expect(cookie).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // What is kept for the session holds no copy of the cookie value.
    expect(JSON.stringify(session)).not.toContain(cookie);
    expect(await store.get(cookie)).toBe(session);
    expect(await store.get(`${cookie.slice(0, -1)}A`)).toBeUndefined();
  });

  it("ends at logout, when idle, at its absolute limit, and when its token is revoked", async () => {
    const { store, tokens, tick } = setUp();
    const a = store.open(principal).cookie;
    store.end(a);
    expect(await store.get(a)).toBeUndefined();

    const idle = store.open(principal).cookie;
    tick(61_000);
    expect(await store.get(idle)).toBeUndefined();

    const busy = store.open(principal).cookie;
    for (let i = 0; i < 11; i++) {
      tick(55_000);
      if (i < 10) expect(await store.get(busy)).toBeDefined();
    }
    expect(await store.get(busy)).toBeUndefined();

    const revoked = store.open(principal).cookie;
    tokens.set("abc", { ...tokens.get("abc")!, revokedAt: 1 });
    expect(await store.get(revoked)).toBeUndefined();
  });

  it("never outlives the credential it was opened with", async () => {
    const { store, tick } = setUp();
    const { cookie, session } = store.open(principal, 1_000_000 + 30_000);
    expect(session.expiresAt).toBe(1_030_000);
    tick(31_000);
    expect(await store.get(cookie)).toBeUndefined();
  });

  it("ends at the credential's own expiry, an ID token's exp included (console attack F1)", async () => {
    const { store, tick } = setUp();
    const idToken: Principal = {
      subject: "user:dave@example.com",
      groups: [],
      credential: { kind: "oidc", id: "dave", expiresAt: 1_000_000 + 20_000 },
    };
    // Neither the 10-minute limit nor a later bound given by the caller outlasts the ID token.
    const { cookie, session } = store.open(idToken, 1_000_000 + 3_600_000);
    expect(session.expiresAt).toBe(1_020_000);
    tick(19_000);
    expect(await store.get(cookie)).toBeDefined();
    tick(2_000);
    expect(await store.get(cookie)).toBeUndefined();
  });
});
