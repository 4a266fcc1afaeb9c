# keyhole: two images from one Dockerfile, both with `keyhole` as their entry point.
#   docker build --target agent      -t keyhole-agent .        # the sidecar: `keyhole agent` alone
#   docker build --target controller -t keyhole-controller .   # the controller, the full CLI, the demo
#   docker run keyhole-agent agent --id … --environment … --trusted-keys /etc/keyhole/jwks/jwks.json
#   docker run -v keyhole-data:/var/lib/keyhole -e KEYHOLE_LISTEN=0.0.0.0:7400 keyhole-controller controller
#
# The agent image holds one esbuild bundle of the agent (deploy/agent-bundle.ts): no node_modules,
# no controller code, no AWS SDK or database driver, no bench/ or examples/. The controller image
# holds the compiled tree and the production dependencies.
#
# Both runtime stages are distroless Node 24 on Debian 12: no shell, no package manager, a numeric
# non-root user. No native addon is built (SQLite is node:sqlite), so the build stage needs no
# compilers. Base images are pinned by digest; bump them deliberately, both together, with
# `crane digest IMAGE:TAG` (or `docker buildx imagetools inspect`), and update the labels below.
#
#   node:24-bookworm-slim: the multi-platform index digest that `docker buildx imagetools inspect`
#     gave on 2026-05-21 (Node 24.15.0), as reported in openclaw/openclaw issue #84981; the same
#     digest is pinned as node:24.15.0-bookworm-slim in other public Dockerfiles.
#   gcr.io/distroless/nodejs24-debian12:nonroot: the digest pinned in ten public Dockerfiles found
#     in a code search on 2026-12-02 (one of them calls it the manifest-list digest); they pair it
#     with node:24 images of 24.15–24.21. It was not resolved against the registry from here (no
#     network to it): verify both digests with `crane digest` before a release build.

# Recorded in the images' OCI labels: e.g. --build-arg KEYHOLE_REVISION=$(git rev-parse HEAD).
ARG KEYHOLE_VERSION=0.1.0
ARG KEYHOLE_REVISION=unknown

# --- build: compile TypeScript, bundle the agent, keep the production dependencies
FROM node:24-bookworm-slim@sha256:4e6b70dd6cbfc88c8157ba19aa3d9f9cce6ba4703576d55459e45efcbc9c5f5d AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY protocol ./protocol
COPY common ./common
COPY agent ./agent
COPY controller ./controller
COPY cli ./cli
COPY bench ./bench
COPY deploy/agent-bundle.ts ./deploy/agent-bundle.ts
COPY examples ./examples
# `npm ci` runs the `prepare` script, which builds dist/ (it needs the dev dependencies, esbuild
# among them); the agent is bundled from dist/ before the prune drops them. distroless has no shell
# to mkdir with: the controller's data dir is prepared here and copied over.
RUN npm ci \
 && node dist/deploy/agent-bundle.js /out/agent \
 && npm prune --omit=dev \
 && mkdir -p /out/var/lib/keyhole

# --- agent: the sidecar next to each workload
FROM gcr.io/distroless/nodejs24-debian12:nonroot@sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a AS agent
ARG KEYHOLE_VERSION
ARG KEYHOLE_REVISION
LABEL org.opencontainers.image.title="keyhole-agent" \
      org.opencontainers.image.description="keyhole sidecar agent: runs whitelisted, typed, signed diagnostic actions against the workload in its pod" \
      org.opencontainers.image.version="${KEYHOLE_VERSION}" \
      org.opencontainers.image.revision="${KEYHOLE_REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot" \
      org.opencontainers.image.base.digest="sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a"
ENV NODE_ENV=production
WORKDIR /app
# Files owned by root, read-only to the service user: keyhole.mjs, its chunks, the licence notices.
COPY --from=build --chown=0:0 /out/agent /app
USER 65532:65532
EXPOSE 7070
# node is PID 1 in a plain container: keyhole installs its own SIGTERM/SIGINT handlers and spawns no
# children to reap. In a pod with shareProcessNamespace the pause container is PID 1 anyway.
# --max-semi-space-size=1: a small young generation for an idle sidecar (AGENT_NODE_OPTIONS in
# deploy/agent-bundle.ts says why and what it was measured to cost).
ENTRYPOINT ["/nodejs/bin/node", "--max-semi-space-size=1", "/app/keyhole.mjs"]
CMD ["--help"]

# --- controller: the controller, the full CLI (`keyhole demo` included) and the example workload
FROM gcr.io/distroless/nodejs24-debian12:nonroot@sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a AS controller
ARG KEYHOLE_VERSION
ARG KEYHOLE_REVISION
LABEL org.opencontainers.image.title="keyhole-controller" \
      org.opencontainers.image.description="keyhole controller and CLI: identity, policy, approvals, signing, dispatch, audit" \
      org.opencontainers.image.version="${KEYHOLE_VERSION}" \
      org.opencontainers.image.revision="${KEYHOLE_REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="gcr.io/distroless/nodejs24-debian12:nonroot" \
      org.opencontainers.image.base.digest="sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a"
ENV NODE_ENV=production \
    KEYHOLE_DATA_DIR=/var/lib/keyhole
WORKDIR /app
# The image's files belong to root and are read-only to the service user. package.json is
# needed at run time: it marks dist/ as ES modules.
COPY --from=build --chown=0:0 /app/package.json ./package.json
COPY --from=build --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /app/dist/protocol ./dist/protocol
COPY --from=build --chown=0:0 /app/dist/common ./dist/common
COPY --from=build --chown=0:0 /app/dist/agent ./dist/agent
COPY --from=build --chown=0:0 /app/dist/controller ./dist/controller
COPY --from=build --chown=0:0 /app/dist/cli ./dist/cli
COPY --from=build --chown=0:0 /app/bin ./bin
COPY --from=build --chown=0:0 /app/examples ./examples
# The controller's only writable place (SQLite, generated keys) when no volume is mounted;
# Kubernetes mounts an emptyDir here and runs with a read-only root filesystem.
COPY --from=build --chown=65532:65532 /out/var/lib/keyhole /var/lib/keyhole
USER 65532:65532
EXPOSE 7400
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/keyhole.js"]
CMD ["--help"]
