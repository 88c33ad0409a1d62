# Multi-stage image for fedbroker: compile with dev dependencies, then run on the current Node LTS
# with production dependencies only, as the image's non-root `node` user.
# Mount a configuration at /etc/fedbroker/broker.yaml (see config/*.example.yaml, docker-compose.yml).
FROM node:24-bookworm-slim AS build
# The SO_PEERCRED addon of `agent serve` (native/peercred.c) is compiled by `npm ci`'s install
# script with node-gyp against the image's Node headers: it needs a C compiler, make and python3.
RUN apt-get update && apt-get install -y --no-install-recommends g++ make python3 \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
RUN npm ci --no-audit --no-fund && test -f build/Release/peercred.node && test -f build/Release/ecverify.node
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Without peercred `agent serve` refuses to start (ERR_WORKLOAD_PEERCRED_UNAVAILABLE); without
# ecverify the CA checks EC CSRs with node:crypto (slower).
COPY --from=build /app/build/Release/peercred.node /app/build/Release/ecverify.node ./build/Release/
COPY src/workload/proto ./src/workload/proto
COPY config ./config
# The data directory holds CA private keys: owned by node, closed to everyone else.
RUN mkdir -p /var/lib/fedbroker && chown node:node /var/lib/fedbroker && chmod 0700 /var/lib/fedbroker
# The Workload API socket's directory (a volume in docker-compose.yml): the node agent writes it.
RUN mkdir -p /run/spiffe && chown node:node /run/spiffe && chmod 0755 /run/spiffe
USER node
VOLUME ["/var/lib/fedbroker"]
EXPOSE 8443 8444 8445
# No curl in the slim image: node asks the admin listener's /healthz (open, no token needed).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8445/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["serve", "--config", "/etc/fedbroker/broker.yaml"]
