# One image for the API (the default command) and the stream worker (command
# `node --import tsx src/worker.ts`); deploy/kubernetes/ runs both. Without a Kafka and Redis to point at
# (KAFKA_BROKERS, REDIS_CLUSTER_NODES or REDIS_URL) it stops at start-up: LOCAL_STACK=off.
FROM node:20-bookworm-slim

WORKDIR /app

# Every dependency, dev ones included: the service runs its TypeScript through tsx, a devDependency.
# onnxruntime-node's CPU binaries ship in its npm package; ONNXRUNTIME_NODE_INSTALL=skip (and .npmrc)
# keep its install script from downloading the optional CUDA files.
COPY package.json package-lock.json .npmrc ./
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund && npm cache clean --force

# What the processes read at run time: the sources (Lua scripts included), the default ranking
# model, the behaviour-pattern rules and the TypeScript settings tsx follows. tools/ lets the same
# image run the daily batch and the model registry CLI. Owned by root: the service only reads them.
COPY tsconfig.json patterns.json ./
COPY models ./models
COPY src ./src
COPY tools ./tools

ENV HOST=0.0.0.0 \
    LOCAL_STACK=off
USER node
EXPOSE 4000 9464

# `node --import tsx` is `npx tsx` without the npm and tsx wrapper processes: node is PID 1 itself,
# so SIGTERM reaches the service's graceful shutdown directly. tsx caches compiled files under /tmp,
# which must stay writable (an emptyDir there when the root filesystem is read-only).
CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "src/main.ts"]
