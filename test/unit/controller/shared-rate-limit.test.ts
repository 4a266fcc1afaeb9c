import Fastify from "fastify";
import { describe, expect, it } from "vitest";
import { installErrorHandlers } from "../../../controller/http/error-handler.js";
import { registerSubjectRateLimit } from "../../../controller/http/shared-rate-limit.js";

describe("the shared rate-limit store", () => {
  it("counts per route and caller through the shared counter, and answers 429 past the limit", async () => {
    const keys: string[] = [];
    const counts = new Map<string, number>();
    const counter = async (key: string, at: number, windowMs: number) => {
      keys.push(key);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      expect(windowMs).toBe(60_000);
      return { count: counts.get(key)!, windowStart: at - 1_000 };
    };
    const app = Fastify();
    installErrorHandlers(app);
    await app.register(async (scope) => {
      const limited = await registerSubjectRateLimit(scope, { what: "things", perMinute: 2, counter });
      scope.post("/a", limited, async () => ({ ok: true }));
      scope.post("/b", limited, async () => ({ ok: true }));
      scope.get("/free", async () => ({ ok: true }));
    });
    const post = (url: string) => app.inject({ method: "POST", url });
    expect((await post("/a")).statusCode).toBe(200);
    expect((await post("/a")).statusCode).toBe(200);
    const third = await post("/a");
    expect(third.statusCode).toBe(429);
    expect(third.json().error).toEqual({
      code: "KH_RATE_LIMITED",
      message: "at most 2 things per minute per subject; retry in 59 s",
    });
    // Another route has its own count; an unlimited route is not counted.
    expect((await post("/b")).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/free" })).statusCode).toBe(200);
    expect(new Set(keys)).toEqual(new Set(["POST /a|127.0.0.1", "POST /b|127.0.0.1"]));
    await app.close();
  });

  it("refuses with the counter's error when the database cannot count (nothing runs)", async () => {
    let ran = false;
    const app = Fastify();
    installErrorHandlers(app);
    await app.register(async (scope) => {
      const limited = await registerSubjectRateLimit(scope, {
        what: "things",
        perMinute: 2,
        counter: async () => {
          throw Object.assign(new Error("Connection terminated unexpectedly"), {});
        },
      });
      scope.post("/a", limited, async () => {
        ran = true;
        return {};
      });
    });
    const answer = await app.inject({ method: "POST", url: "/a" });
    expect(answer.statusCode).toBe(503);
    expect(answer.json().error.code).toBe("KH_STORE_UNAVAILABLE");
    expect(ran).toBe(false);
    await app.close();
  });
});
