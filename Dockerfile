# syntax=docker/dockerfile:1
#
# spikeserve: compiled with every dependency, run with the production ones
# only, as a non-root user, with tini as PID 1 (signals reach node, zombies
# are reaped) and the data directory on a volume.
#
#   docker build -t spikeserve .
#   docker run --rm -p 3000:3000 -v spikeserve-data:/data -e API_KEYS=me:$(openssl rand -hex 24) spikeserve
#
# The image listens on 0.0.0.0, so it needs API_KEYS (or
# ALLOW_UNAUTHENTICATED_PUBLIC=true, for a private network): without either
# it refuses to start, saying so.

# --- build: TypeScript and the dashboard bundle, with the dev dependencies.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# --- deps: production dependencies only. The full image has the compilers
# and network that native addons need: better-sqlite3, and the optional
# @tensorflow/tfjs-node with its libtensorflow (the tfjs backend's fastest
# platform; the server falls back to wasm or cpu without it).
FROM node:20-bookworm AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# --- runtime
FROM node:20-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
# SHUTDOWN_TIMEOUT_S stays under docker's default 10 s stop timeout, so a
# plain `docker stop` lets the server finish and exit 0 before any SIGKILL.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data \
    SHUTDOWN_TIMEOUT_S=8
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist/src ./dist/src
COPY --from=build --chown=node:node /app/dist/routes ./dist/routes
COPY --from=build --chown=node:node /app/dist/dashboard ./dist/dashboard
COPY --chown=node:node package.json ./
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 3000
STOPSIGNAL SIGTERM
# Ready means restored and taking work: /readyz answers 503 while shutting down.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/server.js"]
