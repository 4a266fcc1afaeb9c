/**
 * A store for @fastify/rate-limit that counts in the database every replica shares, so a subject
 * gets the limit once across N controllers, not N times. Used when the store offers a shared
 * counter (PostgreSQL); a SQLite controller runs alone and keeps the plugin's in-memory count.
 *
 * Fixed windows, as the in-memory store: a window starts at a key's first request and lasts
 * `timeWindow`; the next request after it starts a new one.
 */
import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from "@fastify/rate-limit";
import type { FastifyInstance, FastifyRequest, RouteOptions } from "fastify";
import { ControllerError } from "../errors.js";
import type { RateCounter } from "../store/types.js";

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * What the plugin passes to `child` for a route at run time: its merged options, with the route
 * under `routeInfo` (the typings say the route options themselves; both carry `method` and `url`).
 */
interface RouteParams {
  readonly routeInfo?: { readonly method?: string | string[]; readonly url?: string };
  readonly method?: string | string[];
  readonly url?: string;
}

/** Builds the plugin's `store` option (a class the plugin instantiates) over `count`. */
function sharedRateLimitStore(count: RateCounter): FastifyRateLimitStoreCtor {
  return class SharedRateLimitStore implements FastifyRateLimitStore {
    constructor(
      _globalParams?: unknown,
      /** Keys are per route: `POST /v1/requests|user:alice@…`. */
      private readonly prefix = "",
    ) {}

    incr(key: string, callback: Callback, timeWindow: number): void {
      const at = Date.now();
      count(`${this.prefix}${key}`, at, timeWindow).then(
        ({ count: current, windowStart }) =>
          callback(null, { current, ttl: Math.max(0, windowStart + timeWindow - at) }),
        (err: unknown) => callback(err as Error),
      );
    }

    child(routeOptions: RouteOptions): SharedRateLimitStore {
      const params = routeOptions as unknown as RouteParams;
      const route = params.routeInfo ?? params;
      const method = [route.method ?? ""].flat().join(",");
      return new SharedRateLimitStore(undefined, `${method} ${route.url ?? ""}|`);
    }
  };
}

/**
 * Registers the per-subject limit on `scope` (counted after authentication, in preHandler, so one
 * caller cannot use up another's allowance and an unauthenticated flood never reaches the counter),
 * shared through `counter` when there is one. Returns the route options that put a route under
 * `perMinute` (none when it is 0: no limit).
 */
export async function registerSubjectRateLimit(
  scope: FastifyInstance,
  options: {
    what: string;
    perMinute: number;
    counter?: RateCounter | undefined;
    /**
     * The key counted, when it is not the caller's subject (routes without a user, such as agent
     * enrollment), and how the refusal names it.
     */
    key?: { readonly of: (request: FastifyRequest) => string; readonly per: string } | undefined;
  },
): Promise<{ config?: { rateLimit: { max: number; timeWindow: number } } }> {
  const key = options.key;
  await scope.register(rateLimit, {
    global: false,
    hook: "preHandler",
    keyGenerator: key ? key.of : (request) => request.principal?.subject ?? request.ip,
    ...(options.counter ? { store: sharedRateLimitStore(options.counter) } : {}),
    errorResponseBuilder: (_request, context) =>
      new ControllerError(
        "KH_RATE_LIMITED",
        `at most ${context.max} ${options.what} per minute per ${key?.per ?? "subject"}; retry in ${Math.ceil(context.ttl / 1000)} s`,
      ),
  });
  return options.perMinute > 0
    ? { config: { rateLimit: { max: options.perMinute, timeWindow: 60_000 } } }
    : {};
}
