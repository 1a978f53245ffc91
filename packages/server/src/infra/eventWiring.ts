/**
 * Where server mode picks its event bus, cache, relay and consumers: RabbitMQ and Redis when
 * their URLs are set, in-process otherwise. The relay and the consumers run the same either way.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as StockCheckerConsumers from "../stockChecker/consumers.js"
import * as StockUpdaterConsumers from "../stockUpdater/consumers.js"
import * as SupplierSyncConsumers from "../supplierSync/consumers.js"
import { invalidatedTogether, StockCache } from "./cache.js"
import type { BrokerError, EventBus } from "./events.js"
import * as InProcessEvents from "./inProcessEvents.js"
import * as MemoryCache from "./memoryCache.js"
import * as RabbitMq from "./rabbitmq.js"
import type { RetryPolicy } from "./redelivery.js"
import * as RedisCache from "./redisCache.js"

export const eventBus = (options: {
  readonly rabbitmqUrl: Option.Option<Redacted.Redacted<string>>
  readonly retry: RetryPolicy
}): Layer.Layer<EventBus, BrokerError> =>
  Option.match(options.rabbitmqUrl, {
    onNone: () => InProcessEvents.layer(options.retry),
    onSome: (url) => RabbitMq.layer(url, { retry: options.retry })
  })

export const stockCache = (options: {
  readonly redisUrl: Option.Option<Redacted.Redacted<string>>
  readonly ttlSeconds: number
  /** The deployment's namespace in Redis (infra/redis.ts); waits until it is known. */
  readonly namespace: Effect.Effect<string>
}): Layer.Layer<StockCache> =>
  Option.match(options.redisUrl, {
    onNone: () => MemoryCache.layer({ ttlSeconds: options.ttlSeconds }),
    onSome: (url) =>
      Layer.effect(StockCache, Effect.flatMap(StockCache, invalidatedTogether)).pipe(
        Layer.provide(
          RedisCache.layer({
            url,
            ttlSeconds: options.ttlSeconds,
            keyPrefix: Effect.map(options.namespace, (namespace) => `${namespace}:cache:`)
          })
        )
      )
  })

/** Publishes outbox rows for the process's life. */
export { runRelay } from "./relay.js"

/** Each service's consumers. */
export const consumers: {
  readonly "stock-updater": typeof StockUpdaterConsumers.consumers
  readonly "stock-checker": typeof StockCheckerConsumers.consumers
  readonly "supplier-sync": typeof SupplierSyncConsumers.consumers
} = {
  "stock-updater": StockUpdaterConsumers.consumers,
  "stock-checker": StockCheckerConsumers.consumers,
  "supplier-sync": SupplierSyncConsumers.consumers
}
