import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revokeToken } from "../../../controller/identity/cli.js";
import { type Harness, startHarness } from "./helpers.js";

describe("bad input on every route is a coded 4xx, never a 5xx", () => {
  let h: Harness;
  let alice: string;
  let pendingId: string;

  beforeAll(async () => {
    h = await startHarness();
    alice = await h.token("user:alice@example.com", ["sre"]);
    pendingId = (
      await h.call(alice, "POST", "/v1/requests", {
        action: "env",
        target: "production/shop/shop-0",
        reason: "r",
      })
    ).json.request.id;
  });
  afterAll(async () => {
    await h.close();
  });

  async function raw(options: {
    method: "GET" | "POST";
    url: string;
    payload?: string;
    contentType?: string;
    token?: string | null;
  }): Promise<{ status: number; code: string }> {
    const headers: Record<string, string> = {};
    if (options.token !== null) headers.authorization = `Bearer ${options.token ?? alice}`;
    if (options.contentType) headers["content-type"] = options.contentType;
    const response = await h.controller.app.inject({
      method: options.method,
      url: options.url,
      headers,
      payload: options.payload,
    });
    expect(response.headers["content-type"]).toMatch(/^application\/json/);
    const body = JSON.parse(response.body);
    expect(Object.keys(body)).toEqual(["error"]);
    expect(typeof body.error.message).toBe("string");
    return { status: response.statusCode, code: body.error.code };
  }

  const postRoutes = () => [
    "/v1/requests",
    `/v1/requests/${pendingId}/approve`,
    `/v1/requests/${pendingId}/deny`,
  ];
  const allRoutes = (): [string, string][] => [
    ["GET", "/v1/whoami"],
    ["GET", "/v1/requests"],
    ["GET", `/v1/requests/${pendingId}`],
    ...postRoutes().map((u): [string, string] => ["POST", u]),
  ];

  it("refuses a missing, malformed, unknown, revoked or expired token alike", async () => {
    const unknown = `kh_0123456789abcdef_${"A".repeat(43)}`;
    const revokedToken = await h.token("user:rita@example.com", ["sre"]);
    await revokeToken({
      dataDir: h.controller.config.dataDir,
      database: h.database,
      id: revokedToken.split("_")[1]!,
    });
    for (const [method, url] of allRoutes()) {
      for (const token of [null, "", "garbage", unknown, revokedToken, `${alice}x`]) {
        const r = await raw({
          method: method as "GET",
          url,
          token,
          payload: method === "POST" ? "{}" : undefined,
          contentType: method === "POST" ? "application/json" : undefined,
        });
        expect([url, token, r]).toEqual([url, token, { status: 401, code: "KH_UNAUTHENTICATED" }]);
      }
    }
    const basic = await h.controller.app.inject({
      method: "GET",
      url: "/v1/whoami",
      headers: { authorization: `Basic ${alice}` },
    });
    expect(basic.statusCode).toBe(401);
  });

  it("refuses malformed JSON, empty JSON bodies and non-JSON media types", async () => {
    for (const url of postRoutes()) {
      expect(
        await raw({ method: "POST", url, payload: "{not json", contentType: "application/json" }),
      ).toEqual({ status: 400, code: "KH_MALFORMED" });
      expect(await raw({ method: "POST", url, payload: "", contentType: "application/json" })).toEqual({
        status: 400,
        code: "KH_MALFORMED",
      });
      expect(
        await raw({ method: "POST", url, payload: '{"__proto__":{"x":1}}', contentType: "application/json" }),
      ).toEqual({ status: 400, code: "KH_MALFORMED" });
      expect(await raw({ method: "POST", url, payload: "reason=x", contentType: "text/plain" })).toEqual({
        status: 415,
        code: "KH_UNSUPPORTED_MEDIA_TYPE",
      });
      expect(
        await raw({ method: "POST", url, payload: "a=b", contentType: "application/x-www-form-urlencoded" }),
      ).toEqual({ status: 415, code: "KH_UNSUPPORTED_MEDIA_TYPE" });
    }
  });

  it("refuses oversized bodies with 413", async () => {
    const big = JSON.stringify({
      action: "env",
      target: "x",
      reason: "r",
      params: { blob: "x".repeat(70 * 1024) },
    });
    for (const url of postRoutes()) {
      expect(await raw({ method: "POST", url, payload: big, contentType: "application/json" })).toEqual({
        status: 413,
        code: "KH_TOO_LARGE",
      });
    }
  });

  it("refuses wrong types, missing fields and unknown fields on every body", async () => {
    const bad: [string, unknown][] = [
      ["/v1/requests", []],
      ["/v1/requests", "a string"],
      ["/v1/requests", { action: "env", target: "production/shop/shop-0" }],
      ["/v1/requests", { action: 7, target: "production/shop/shop-0", reason: "r" }],
      ["/v1/requests", { action: "env", target: "production/shop/shop-0", reason: "r", params: [1] }],
      ["/v1/requests", { action: "env", target: "production/shop/shop-0", reason: "x".repeat(501) }],
      [
        "/v1/requests",
        { action: "env", target: "production/shop/shop-0", reason: "r", approvedBy: "user:bob@example.com" },
      ],
      ["/v1/requests", { action: "Env Var", target: "production/shop/shop-0", reason: "r" }],
      [`/v1/requests/${pendingId}/approve`, { note: 5 }],
      [`/v1/requests/${pendingId}/approve`, { approve: true }],
      [`/v1/requests/${pendingId}/deny`, { reason: 5 }],
      [`/v1/requests/${pendingId}/deny`, { reason: "no", extra: 1 }],
    ];
    for (const [url, body] of bad) {
      const r = await raw({
        method: "POST",
        url,
        payload: JSON.stringify(body),
        contentType: "application/json",
      });
      expect([url, body, r]).toEqual([url, body, { status: 400, code: "KH_BAD_REQUEST" }]);
    }
    // The request was left untouched by all of that.
    expect((await h.call(alice, "GET", `/v1/requests/${pendingId}`)).json.request.status).toBe("pending");
  });

  it("refuses bad queries, bad ids and unknown routes", async () => {
    for (const url of [
      "/v1/requests?limit=abc",
      "/v1/requests?limit=0",
      "/v1/requests?limit=100000",
      "/v1/requests?status=done",
      "/v1/requests?status=pending&status=denied",
      "/v1/requests?sort=asc",
      "/v1/whoami?x=1",
      `/v1/requests/${pendingId}?verbose=1`,
      "/v1/requests/not%20an%20id",
    ]) {
      expect([url, await raw({ method: "GET", url })]).toEqual([
        url,
        { status: 400, code: "KH_BAD_REQUEST" },
      ]);
    }
    expect(await raw({ method: "GET", url: "/v1/requests/00000000-0000-0000-0000-000000000000" })).toEqual({
      status: 404,
      code: "KH_NOT_FOUND",
    });
    expect(await raw({ method: "GET", url: "/nope", token: null })).toEqual({
      status: 404,
      code: "KH_NOT_FOUND",
    });
    expect(
      await raw({ method: "POST", url: "/v1/whoami", payload: "{}", contentType: "application/json" }),
    ).toEqual({ status: 404, code: "KH_NOT_FOUND" });
    expect(
      await raw({
        method: "POST",
        url: "/v1/requests/00000000-0000-0000-0000-000000000000/approve",
        payload: "{}",
        contentType: "application/json",
      }),
    ).toEqual({ status: 404, code: "KH_NOT_FOUND" });
    expect(await raw({ method: "GET", url: "/%E0%A4%A", token: null }).then((r) => r.status)).toBeLessThan(
      500,
    );
  });

  it("healthz needs no token and says nothing else", async () => {
    const response = await h.controller.app.inject({ method: "GET", url: "/healthz" });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: "ok" });
  });
});
