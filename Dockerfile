# Multi-stage image for fedbroker: build with dev dependencies, run as a non-root user on a current LTS.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
RUN mkdir -p /var/lib/fedbroker && chown node:node /var/lib/fedbroker
USER node
VOLUME ["/var/lib/fedbroker"]
EXPOSE 8443 8444 8445
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["serve", "--config", "/etc/fedbroker/broker.yaml"]
