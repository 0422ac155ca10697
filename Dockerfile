# The controller image: `docker build -t meshfed/meshfed:0.1.0 .` (docs/operations.md "Image").
# Pods need no meshfed image: the injector adds Pipy's own image as the sidecar.
# Multi-stage: the build stage has the compiler and dev dependencies; the
# runtime stage holds only what `meshfed` runs (dist/src, the agent bundle
# for `meshfed agent install`, the proto files loaded at run time, the example
# configs) and production dependencies. It runs as a fixed non-root user and
# writes nowhere but its data volume, so it runs on a read-only root
# filesystem (config/kubernetes/deployment.yaml). test/unit/dockerfile.test.ts
# checks every path copied here against the repository and `npm run build`.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY proto ./proto
COPY config ./config
COPY agents ./agents
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
# glibc's malloc with a fixed 64 KiB mmap threshold: 13-16 % less RSS per
# connected agent, 28-34 % less after a reconnect storm, no measured CPU cost
# (src/controller/malloc-env.ts says why; docs/operations.md "Memory").
ENV MALLOC_MMAP_THRESHOLD_=65536
WORKDIR /opt/meshfed
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/dist/agent-bundle ./dist/agent-bundle
COPY --from=build /src/proto ./proto
COPY --from=build /src/config ./config
COPY --from=build /src/agents ./agents
USER 10001:10001
EXPOSE 15128 6060 9443 15000
ENTRYPOINT ["node", "/opt/meshfed/dist/src/cli/main.js"]
CMD ["controller", "--config", "/etc/meshfed/controller.yaml"]
