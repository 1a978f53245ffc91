/**
 * What every service process is: its store (PostgreSQL, or the embedded database in a worker
 * thread), its event bus and cache, its HTTP server and its background work, composed once here
 * so the services differ only in what they serve and run.
 */
import { readFile } from "node:fs/promises"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import { Store } from "@invkit/sdk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type { ServerConfig, Service } from "./config.js"
import { KeyUnreadable, makeVerifier, type Verifier } from "./http/auth.js"
import { evaluateReadiness, type ReadinessCheck, type ServeOptions } from "./http/server.js"
import { StockCache } from "./infra/cache.js"
import * as EmbeddedDatabase from "./infra/embeddedDatabase.js"
import { type Consumer, EventBus } from "./infra/events.js"
import * as EventWiring from "./infra/eventWiring.js"
import { sampleForever } from "./infra/inventoryMetrics.js"
import { rateLimiter } from "./infra/rateLimiter.js"
import * as ReadReplica from "./infra/readReplica.js"
import { defaultRetryPolicy } from "./infra/redelivery.js"
import * as Redis from "./infra/redis.js"
import * as Relay from "./infra/relay.js"
import * as StoreConnection from "./infra/storeConnection.js"

export interface ServiceProcess {
  /** As `inv-server` takes it; also names the process holding the embedded store. */
  readonly name: Service
  /** The HTTP server with the service's handlers. */
  readonly http: (
    options: ServeOptions
  ) => Layer.Layer<
    never,
    HttpServerError.ServeError,
    StoreConnection.StoreConnection | StockCache | ReadReplica.StockReads
  >
  /** Whether the service queues or works syncs (pg-boss). */
  readonly jobs: boolean
  /**
   * Whether the process runs the outbox relay (its `background` has `consumersThenRelay`): its
   * store then wakes the relay in-process after each commit that wrote events, instead of
   * notifying through the database (see infra/relay.ts).
   */
  readonly runsRelay: boolean
  /** Whether the service serves stock reads (through the cache, from the read replica if any). */
  readonly usesCache: boolean
  /** Runs for the process's life once the store is open: relay, consumers, workers. */
  readonly background: Effect.Effect<
    void,
    never,
    StoreConnection.Opened | EventBus | StockCache | Scope.Scope
  >
}

/**
 * The consumer groups this process runs, and then the relay: it publishes once their queues are
 * bound, so none of their events is published to a broker with nowhere to put it.
 */
export const consumersThenRelay = <R>(startConsumers: Effect.Effect<void, never, R>) =>
  Effect.gen(function* () {
    const started = yield* Deferred.make<void>()
    yield* Effect.all(
      [
        Effect.zipRight(startConsumers, Deferred.succeed(started, undefined)),
        EventWiring.runRelay(Deferred.await(started))
      ],
      { concurrency: "unbounded", discard: true }
    )
  })

/**
 * The queues of consumer groups that run in other processes (a split deployment), declared by the
 * relay's process before it publishes: on a fresh broker, stock-updater's first events would
 * otherwise be dropped for a group that has not started yet. Failing to declare is logged, not
 * fatal: the group's own process declares them when it starts.
 */
export const declareGroups = <E extends { readonly message: string }, R>(
  consumers: Effect.Effect<ReadonlyArray<Consumer>, E, R>
) =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const built = yield* Effect.either(consumers)
    if (built._tag === "Left")
      return yield* Effect.logError(`consumers could not be declared: ${built.left.message}`)
    for (const consumer of built.right) {
      yield* bus
        .declare(consumer)
        .pipe(
          Effect.catchAll((error) =>
            Effect.logWarning(`the queues of ${consumer.name} could not be declared: ${error.reason}`)
          )
        )
    }
  })

/** Runs each consumer on the bus until the process stops. */
export const runConsumers = <E extends { readonly message: string }, R>(
  consumers: Effect.Effect<ReadonlyArray<Consumer>, E, R>
) =>
  Effect.gen(function* () {
    const bus = yield* EventBus
    const started = yield* Effect.either(consumers)
    if (started._tag === "Left") {
      return yield* Effect.logError(`consumers could not start: ${started.left.message}`)
    }
    for (const consumer of started.right) {
      yield* bus
        .consume(consumer)
        .pipe(
          Effect.catchAll((error) =>
            Effect.logError(`consumer ${consumer.name} could not start: ${error.reason}`)
          )
        )
    }
  })

/** The token verifier, or none (with a warning) when INV_AUTH=off says so. */
const verifierFor = (config: ServerConfig) =>
  config.auth.mode === "off"
    ? Effect.as(
        Effect.logWarning(
          "INV_AUTH=off: requests are not authenticated, so anyone who reaches this port may read and change everything. Use it only on a private network or behind a proxy that authenticates."
        ),
        Option.none<Verifier>()
      )
    : Effect.asSome(makeVerifier(config.auth))

/** The certificate and key files, read once at startup. */
const tlsFor = (config: ServerConfig) =>
  Effect.transposeOption(
    Option.map(config.tls, ({ certFile, keyFile }) =>
      Effect.tryPromise({
        try: async () => ({ cert: await readFile(certFile, "utf8"), key: await readFile(keyFile, "utf8") }),
        catch: (error) =>
          new KeyUnreadable({
            message: `INV_TLS_CERT / INV_TLS_KEY: cannot read the certificate or key (PEM files): ${(error as Error).message}`
          })
      })
    )
  )

export const layer = (service: ServiceProcess, config: ServerConfig) =>
  Layer.unwrapEffect(
    Effect.map(Redis.makeNamespace(config.redisPrefix), (namespace) => compose(service, config, namespace))
  )

const compose = (service: ServiceProcess, config: ServerConfig, namespace: Redis.Namespace) => {
  const configured = {
    broker: Option.isSome(config.rabbitmqUrl),
    redis: Option.isSome(config.redisUrl)
  }
  const bus = EventWiring.eventBus({
    rabbitmqUrl: config.rabbitmqUrl,
    retry: { ...defaultRetryPolicy, retryFor: `${config.eventRetryTimeoutSeconds} seconds` }
  })
  const cache = EventWiring.stockCache({
    redisUrl: config.redisUrl,
    ttlSeconds: config.cacheTtlSeconds,
    namespace: namespace.known
  })

  const store = Layer.unwrapScoped(
    Effect.gen(function* () {
      const storeOptions = yield* Option.match(config.databaseUrl, {
        onSome: (url) => Effect.succeed(Store.postgres(url)),
        onNone: () => EmbeddedDatabase.start(config.home, `inv-server ${service.name}`)
      })
      yield* Effect.logInfo(
        Option.isSome(config.databaseUrl)
          ? `store: ${Store.describe(storeOptions)}`
          : `store: embedded in ${config.home} (PGlite in a worker thread)`
      )
      const runtime = yield* Effect.context<EventBus | StockCache>()
      const localCommits = yield* Queue.dropping<void>(1)
      return StoreConnection.layer({
        store: storeOptions,
        jobs: service.jobs,
        feeds: config.feeds,
        // Without an effect of its own per commit; a wake-up already waiting covers this commit too.
        eventsCommitted: service.runsRelay
          ? Effect.sync(() => Queue.unsafeOffer(localCommits, undefined))
          : undefined,
        onOpen: (context) =>
          Effect.zipRight(
            configured.redis ? Effect.provide(namespace.learn, context) : Effect.void,
            service.background.pipe(
              Effect.provide(context),
              // The embedded store's socket is one PGlite session: no connection of the relay's own.
              Effect.provideService(Relay.ListenForEvents, Option.isSome(config.databaseUrl)),
              Effect.provideService(Relay.LocalCommits, localCommits),
              Effect.provide(runtime),
              Effect.forkScoped,
              Effect.asVoid
            )
          )
      })
    })
  )

  const readiness = Layer.unwrapScoped(
    Effect.gen(function* () {
      const verifier = yield* verifierFor(config)
      const tls = yield* tlsFor(config)
      const limiter = yield* rateLimiter({
        ratePerSecond: config.limits.ratePerSecond,
        redisUrl: config.redisUrl,
        namespace: namespace.known
      })
      const connection = yield* StoreConnection.StoreConnection
      const busService = yield* EventBus
      const cacheService = yield* StockCache
      const checks: Array<ReadinessCheck> = [{ name: "database", ready: connection.ready }]
      if (configured.broker) checks.push({ name: "broker", ready: busService.ready })
      // Every service uses Redis when it is set: the cache (or its invalidations) and the rate limit.
      if (configured.redis) checks.push({ name: "redis", ready: cacheService.ready })
      // inv_ready stays current between probes of /ready, for alerts on a process nobody probes.
      yield* Effect.forkScoped(sampleForever("readiness", evaluateReadiness(checks)))
      return service.http({
        port: config.port,
        host: config.host,
        readiness: checks,
        guard: { verifier, limits: config.limits, rateLimiter: limiter },
        tls
      })
    })
  )

  // Acquired bus and cache, store, then HTTP; released the other way round: the server stops
  // taking requests and finishes those in flight before the background work and pools close.
  // Stock reads use the replica only where they serve reads (stock-checker, all).
  const reads = service.usesCache ? ReadReplica.layer(config.databaseReadUrl) : ReadReplica.primaryOnly
  return readiness.pipe(Layer.provide(store), Layer.provide(Layer.mergeAll(bus, cache, reads)))
}
