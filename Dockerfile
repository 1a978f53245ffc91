# syntax=docker/dockerfile:1
#
# The invkit server image: one image for every service. The command names the service
# (`stock-updater`, `stock-checker`, `supplier-sync` or `all`, the default).
#
#   docker build -t invkit-server .
#   docker run --rm -p 8080:8080 -e INV_AUTH=off invkit-server            # all, embedded store
#   docker run --rm -p 8082:8082 --env-file server.env invkit-server stock-checker
#
# See docs/deploy.md. packages/server/test/deploy.test.ts checks this file: the ENTRYPOINT is the
# package's bin, the HEALTHCHECK asks /health, and the `pnpm deploy` line below (run as written,
# into a temporary directory) gives a directory the bin runs from.

ARG NODE_VERSION=20

# ---- build: install the workspace, build the server and what it depends on, deploy it alone ----
FROM node:${NODE_VERSION} AS build
# The same pnpm as package.json's packageManager.
RUN npm install --global pnpm@10.34.9
WORKDIR /app

# The lockfile alone fills pnpm's store: this layer is rebuilt only when the lockfile changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch

COPY . .
RUN pnpm install --frozen-lockfile --offline
# `@invkit/server...` is the server and the workspace packages it depends on (the SDK).
RUN pnpm --filter "@invkit/server..." run build
# A self-contained directory: the server's files ("files" in its package.json: dist), its
# production dependencies from the lockfile, and the SDK copied in (not linked).
# pnpm 10 deploys only with injected workspace packages: set here rather than in
# pnpm-workspace.yaml, so local installs keep linking the SDK. --offline: the store is full.
RUN pnpm --filter @invkit/server --config.inject-workspace-packages=true deploy --prod --offline /out

# ---- runtime: node and the deployed directory, nothing else ----
FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production \
    INV_HOME=/data
WORKDIR /app
# Files owned by root, not writable by the user the server runs as.
COPY --from=build /out /app
# The embedded store's directory (only used by `all` without INV_DATABASE_URL).
RUN mkdir -p /data && chown 1000:1000 /data
VOLUME ["/data"]

# The image's `node` user, by number so Kubernetes' runAsNonRoot can check it.
USER 1000:1000

# Default ports: all 8080, stock-updater 8081, stock-checker 8082, supplier-sync 8083.
EXPOSE 8080 8081 8082 8083

# The slim image has no curl: node asks /health. The port is PORT, else the default port of the
# service named after the bin in PID 1's command line (node /app/dist/bin.js <service>, possibly
# behind `docker run --init`).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD node -e "const args = require('fs').readFileSync('/proc/1/cmdline', 'utf8').split(String.fromCharCode(0)); const service = args[args.indexOf('/app/dist/bin.js') + 1]; const ports = { 'stock-updater': 8081, 'stock-checker': 8082, 'supplier-sync': 8083 }; const port = process.env.PORT || ports[service] || 8080; fetch('http://127.0.0.1:' + port + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"

# inv-server: node handles SIGTERM itself (a clean shutdown within INV_SHUTDOWN_TIMEOUT, exit 0).
ENTRYPOINT ["node", "/app/dist/bin.js"]
CMD ["all"]
