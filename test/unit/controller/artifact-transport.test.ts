import { describe, expect, it } from "vitest";
import { plainHttpWarning } from "../../../controller/artifacts/open-artifact-store.js";
import type { ArtifactStoreConfig } from "../../../controller/config.js";

const s3 = (endpoint: string | undefined): ArtifactStoreConfig => ({
  kind: "s3",
  bucket: "b",
  prefix: "",
  endpoint,
  forcePathStyle: true,
  region: "us-east-1",
  sse: undefined,
  partSizeBytes: 8 * 1024 * 1024,
  maxBytes: 1024 * 1024 * 1024,
});

describe("the plain-http S3 endpoint warning", () => {
  it("warns for http beyond loopback, naming the endpoint and what is at stake", () => {
    expect(plainHttpWarning(s3("http://minio.storage.svc:9000"))).toMatch(
      /^the S3 endpoint http:\/\/minio\.storage\.svc:9000 is plain http: .*unencrypted.*unsigned.*use an https endpoint$/,
    );
    expect(plainHttpWarning(s3("http://10.0.0.7/"))).toMatch(/plain http/);
  });
  it("stays quiet for https, for loopback (s3rver in tests, a local MinIO), for AWS and for the local folder", () => {
    expect(plainHttpWarning(s3("https://minio.storage.svc:9000"))).toBeUndefined();
    expect(plainHttpWarning(s3("http://127.0.0.1:4569"))).toBeUndefined();
    expect(plainHttpWarning(s3("http://localhost:9000"))).toBeUndefined();
    expect(plainHttpWarning(s3("http://[::1]:9000"))).toBeUndefined();
    expect(plainHttpWarning(s3(undefined))).toBeUndefined();
    expect(plainHttpWarning({ kind: "local", dir: "/d", maxBytes: 1 })).toBeUndefined();
  });
});
