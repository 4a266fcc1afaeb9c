/**
 * A small OTLP/HTTP receiver on loopback: accepts POSTs to /v1/traces, /v1/metrics and /v1/logs in
 * the JSON encoding (`OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) and keeps what arrived, flattened to
 * spans, metric data points and log records with their service name. Protobuf bodies are accepted
 * (200) and counted but not decoded.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

type AnyValue = {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
};
type KeyValue = { key: string; value: AnyValue };

export interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  attributes: Record<string, unknown>;
  status: { code?: number; message?: string };
}
export interface ReceivedPoint {
  service: string;
  metric: string;
  attributes: Record<string, unknown>;
  /** A sum or gauge's value, or a histogram's count. */
  value: number;
}
export interface ReceivedLog {
  service: string;
  body: unknown;
  attributes: Record<string, unknown>;
}

function anyValue(v: AnyValue | undefined): unknown {
  if (!v) return undefined;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  return undefined;
}
function attrs(list: KeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, anyValue(kv.value)]));
}
function serviceOf(resource: { attributes?: KeyValue[] } | undefined): string {
  return String(attrs(resource?.attributes)["service.name"] ?? "");
}

export interface OtlpReceiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  readonly points: ReceivedPoint[];
  readonly logs: ReceivedLog[];
  /** Requests per path, protobuf ones included. */
  readonly posts: Record<string, number>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const received: Omit<OtlpReceiver, "url" | "close"> = { spans: [], points: [], logs: [], posts: {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      if (req.method !== "POST" || !["/v1/traces", "/v1/metrics", "/v1/logs"].includes(path)) {
        res.writeHead(404).end();
        return;
      }
      received.posts[path] = (received.posts[path] ?? 0) + 1;
      const type = req.headers["content-type"] ?? "";
      if (type.includes("json")) {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        if (path === "/v1/traces")
          for (const rs of body.resourceSpans ?? [])
            for (const ss of rs.scopeSpans ?? [])
              for (const s of ss.spans ?? [])
                received.spans.push({
                  service: serviceOf(rs.resource),
                  name: s.name,
                  traceId: s.traceId,
                  spanId: s.spanId,
                  parentSpanId: s.parentSpanId ?? "",
                  attributes: attrs(s.attributes),
                  status: s.status ?? {},
                });
        if (path === "/v1/metrics")
          for (const rm of body.resourceMetrics ?? [])
            for (const sm of rm.scopeMetrics ?? [])
              for (const m of sm.metrics ?? []) {
                const points = m.sum?.dataPoints ?? m.gauge?.dataPoints ?? m.histogram?.dataPoints ?? [];
                for (const p of points)
                  received.points.push({
                    service: serviceOf(rm.resource),
                    metric: m.name,
                    attributes: attrs(p.attributes),
                    value: Number(p.asInt ?? p.asDouble ?? p.count ?? 0),
                  });
              }
        if (path === "/v1/logs")
          for (const rl of body.resourceLogs ?? [])
            for (const sl of rl.scopeLogs ?? [])
              for (const l of sl.logRecords ?? [])
                received.logs.push({
                  service: serviceOf(rl.resource),
                  body: anyValue(l.body),
                  attributes: attrs(l.attributes),
                });
      }
      res.writeHead(200, {
        "content-type": type.includes("json") ? "application/json" : "application/x-protobuf",
      });
      res.end(type.includes("json") ? "{}" : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    ...received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
