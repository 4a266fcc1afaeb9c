# keyhole: one image, two services (the entry point is the `keyhole` command).
#   docker run IMAGE agent --id … --environment … --trusted-keys /etc/keyhole/jwks/jwks.json
#   docker run -v keyhole-data:/var/lib/keyhole -e KEYHOLE_LISTEN=0.0.0.0:7400 IMAGE controller
#
# Both stages are Debian 12 (bookworm) with Node 22: the native SQLite addon built in the first
# stage links against that glibc and Node's ABI, so the two bases must move together. Regulated
# builds should pin both by digest (FROM …@sha256:…) and bump them deliberately.

# --- build: compile TypeScript and the native SQLite addon, then keep production deps only
FROM node:22-bookworm-slim AS build
# better-sqlite3 compiles from source when no prebuilt binary can be fetched.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY protocol ./protocol
COPY common ./common
COPY agent ./agent
COPY controller ./controller
COPY cli ./cli
COPY bench ./bench
COPY examples ./examples
# `npm ci` runs the `prepare` script, which builds dist/ (it needs the dev dependencies);
# the prune then drops them, leaving the compiled addon in place.
RUN npm ci && npm prune --omit=dev
# distroless has no shell to mkdir with: prepare the data dir here and copy it over.
RUN mkdir -p /out/var/lib/keyhole

# --- runtime: no shell, no package manager, no compilers, no sources; numeric non-root user
FROM gcr.io/distroless/nodejs22-debian12:nonroot
ENV NODE_ENV=production \
    KEYHOLE_DATA_DIR=/var/lib/keyhole
WORKDIR /app
# The image's files belong to root and are read-only to the service user. package.json is
# needed at run time: it marks dist/ as ES modules.
COPY --from=build --chown=0:0 /app/package.json ./package.json
COPY --from=build --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /app/dist ./dist
COPY --from=build --chown=0:0 /app/bin ./bin
COPY --from=build --chown=0:0 /app/examples ./examples
# The controller's only writable place (SQLite, generated keys) when no volume is mounted;
# Kubernetes mounts an emptyDir here and runs with a read-only root filesystem.
COPY --from=build --chown=65532:65532 /out/var/lib/keyhole /var/lib/keyhole
USER 65532:65532
EXPOSE 7070 7400
# node is PID 1 in a plain container: keyhole installs its own SIGTERM/SIGINT handlers (PID 1
# gets no default signal actions) and spawns no children to reap, so no init is needed. In a pod
# with shareProcessNamespace the pause container is PID 1 anyway.
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/keyhole.js"]
CMD ["--help"]
