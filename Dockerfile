# keyhole: one image, two services.
#   docker run IMAGE agent --id … --environment … --trusted-keys /etc/keyhole/jwks.json
#   docker run IMAGE controller --data-dir /var/lib/keyhole --listen 0.0.0.0:7400

# --- build: compile TypeScript and the native SQLite addon, then keep production deps only
FROM node:22-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY agent ./agent
COPY controller ./controller
COPY cli ./cli
COPY bench ./bench
COPY examples ./examples
# `npm ci` runs the `prepare` script, which builds dist/.
RUN npm ci && npm prune --omit=dev

# --- runtime: no compilers, no sources, a non-root user
FROM node:22-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=root:root /app/package.json ./
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --from=build --chown=root:root /app/bin ./bin
COPY --from=build --chown=root:root /app/examples ./examples
# The image's files belong to root and are read-only to the service user; the controller writes
# only to its data dir (a volume), the agent writes nothing.
RUN mkdir -p /var/lib/keyhole && chown node:node /var/lib/keyhole
USER node
VOLUME ["/var/lib/keyhole"]
EXPOSE 7070 7400
ENTRYPOINT ["node", "/app/bin/keyhole.js"]
CMD ["--help"]
