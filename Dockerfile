# Multi-stage image for fedbroker: compile with dev dependencies, then run on the current Node LTS
# with production dependencies only, as the image's non-root `node` user.
# Mount a configuration at /etc/fedbroker/broker.yaml (see config/*.example.yaml, docker-compose.yml).
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
# The data directory holds CA private keys: owned by node, closed to everyone else.
RUN mkdir -p /var/lib/fedbroker && chown node:node /var/lib/fedbroker && chmod 0700 /var/lib/fedbroker
USER node
VOLUME ["/var/lib/fedbroker"]
EXPOSE 8443 8444 8445
# No curl in the slim image: node asks the admin listener's /healthz (open, no token needed).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=5 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8445/healthz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["serve", "--config", "/etc/fedbroker/broker.yaml"]
