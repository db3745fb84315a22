# syntax=docker/dockerfile:1
# flowvis container image: one image for every role (flowvis aggregator, exporter, collector);
# the Kubernetes manifests in deploy/ pick the subcommand. Build from the checkout root:
#
#   docker build -t flowvis:0.1.0 .
#
# Stage 1 installs every dependency (native addons: better-sqlite3, duckdb, netlink, built or
# fetched for this platform and glibc), compiles TypeScript to dist/ and prunes dev dependencies.
# Stage 2 is the slim runtime of the same Debian release, so the addons' glibc matches; it holds
# only package.json, the production node_modules, dist/src and bin/, all owned by root and not
# writable by the process.

FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bin ./bin
# The dashboards' build (esbuild), run by npm ci's prepare into dist/src/ui/static.
COPY scripts/build-ui.mjs ./scripts/build-ui.mjs
# npm ci runs the install scripts of the native addons and then the "prepare" script (tsc).
RUN --mount=type=cache,target=/root/.npm npm ci
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/bin ./bin
# The image's "node" user, by number so that Kubernetes runAsNonRoot can verify it. The
# aggregator and the collector run as this user. The exporter's DaemonSet overrides it with
# root plus CAP_NET_ADMIN only: conntrack and NFLOG netlink sockets need that capability,
# and Kubernetes grants added capabilities to root processes only (no ambient capabilities).
USER 1000:1000
# 4739: IPFIX (TCP/TLS or UDP); 10348: aggregator API, UI and metrics; 10351: exporter metrics.
EXPOSE 4739/tcp 4739/udp 10348/tcp 10351/tcp
ENTRYPOINT ["node", "/app/bin/flowvis.js"]
CMD ["--help"]
