/**
 * What the event, relay, consumer and cache tests share: the real services on loopback, a fresh
 * PostgreSQL database per test file, names unique to this run (the exchange is shared and
 * durable; queues and SKUs are not), and the switches that stop and start RabbitMQ and Redis.
 */
import { execFile } from "node:child_process"
import { randomBytes } from "node:crypto"
import { promisify } from "node:util"
import * as SqlClient from "@effect/sql/SqlClient"
import { Inventory, Stock, Store } from "@invkit/sdk"
import * as amqp from "amqplib"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import pg from "pg"
import { freshPostgresDatabase, POSTGRES_URL } from "../../sdk/test/postgres.js"

const run = promisify(execFile)

export const RABBITMQ_URL = process.env.INV_TEST_RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"
export const REDIS_URL = process.env.INV_TEST_REDIS_URL ?? "redis://127.0.0.1:6379"

/** Unique per run, so parallel and earlier runs never see each other's queues, keys or SKUs. */
export const runId = randomBytes(4).toString("hex")

type Service = "postgres" | "rabbitmq" | "redis"

const probe: Record<Service, () => Promise<unknown>> = {
  postgres: async () => {
    const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3_000 })
    await client.connect()
    await client.end()
  },
  rabbitmq: async () => {
    const connection = await amqp.connect(RABBITMQ_URL, { timeout: 3_000 })
    await connection.close()
  },
  redis: async () => {
    const redis = new Redis(REDIS_URL, {
      lazyConnect: true,
      connectTimeout: 3_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null
    })
    redis.on("error", () => undefined) // the failed connect below says it
    try {
      await redis.connect()
      await redis.ping()
    } finally {
      redis.disconnect()
    }
  }
}

/**
 * Whether these tests can run. An unreachable service with CI=true is a failure, so a CI run never
 * passes without them; elsewhere the tests are skipped, and the skip is printed.
 */
export const servicesReachable = async (...services: ReadonlyArray<Service>): Promise<boolean> => {
  for (const service of services) {
    try {
      await probe[service]()
    } catch (error) {
      const problem = `${service} is not reachable on 127.0.0.1 (${(error as Error).message})`
      if (process.env.CI === "true") {
        throw new Error(`${problem}. CI=true, so this fails instead of skipping: start ${service}.`)
      }
      console.warn(`SKIPPING: ${problem}. With CI=true this is a failure.`)
      return false
    }
  }
  return true
}

/** A fresh, empty database for the length of the scope: its URL. Dropped afterwards. */
export const freshDatabase = freshPostgresDatabase

/** Every inventory service on a fresh, migrated PostgreSQL database. */
export const postgresInventory = (): Layer.Layer<Inventory.Services | SqlClient.SqlClient, never> =>
  Layer.orDie(
    Layer.unwrapScoped(
      Effect.map(freshDatabase, (url) =>
        // With group commit, as the services open their store.
        Inventory.layer(Store.postgres(url)).pipe(Layer.provide(Stock.groupCommit()))
      )
    )
  )

/** Polls `check` until it answers true; fails naming `what` after `timeout`. */
export const eventually = <E, R>(
  what: string,
  check: Effect.Effect<boolean, E, R>,
  timeout: Duration.DurationInput = "20 seconds"
): Effect.Effect<void, E | Error, R> =>
  Effect.gen(function* () {
    const deadline = Date.now() + Duration.toMillis(timeout)
    while (!(yield* check)) {
      if (Date.now() > deadline) {
        return yield* Effect.fail(
          new Error(`timed out after ${Duration.format(timeout)} waiting until ${what}`)
        )
      }
      yield* Effect.sleep("50 millis")
    }
  })

/** A plain amqplib channel for the test's own reads and writes, closed with the scope. */
export const testChannel: Effect.Effect<amqp.ConfirmChannel, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(async () => {
    const connection = await amqp.connect(RABBITMQ_URL)
    const channel = await connection.createConfirmChannel()
    return Object.assign(channel, { closeAll: () => connection.close() })
  }),
  (channel) => Effect.promise(() => channel.closeAll().catch(() => undefined))
)

/** Deletes a consumer group's queues (main, retry, dead) when the scope closes. */
export const deleteQueuesAfterwards = (consumerName: string) =>
  Effect.addFinalizer(() =>
    Effect.promise(async () => {
      const connection = await amqp.connect(RABBITMQ_URL)
      try {
        const channel = await connection.createChannel()
        for (const queue of [
          `invkit.${consumerName}`,
          `invkit.${consumerName}.retry`,
          `invkit.${consumerName}.dead`
        ]) {
          await channel.deleteQueue(queue).catch(() => undefined)
        }
      } finally {
        await connection.close().catch(() => undefined)
      }
    }).pipe(Effect.ignore)
  )

/** Every message now waiting in `queue`, taken off it (acked). */
export const drainQueue = (channel: amqp.Channel, queue: string) =>
  Effect.promise(async () => {
    const messages: Array<amqp.GetMessage> = []
    while (true) {
      const message = await channel.get(queue)
      if (message === false) return messages
      channel.ack(message)
      messages.push(message)
    }
  })

const rabbitmqctl = (...args: ReadonlyArray<string>) => run("rabbitmqctl", [...args], { timeout: 60_000 })

/** Stops the RabbitMQ application (the node stays up), as in a broker outage. */
export const stopRabbitMq = Effect.promise(() => rabbitmqctl("stop_app"))

/** Starts it again and waits until it answers. */
export const startRabbitMq = Effect.promise(async () => {
  await rabbitmqctl("start_app")
  await rabbitmqctl("await_startup")
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await probe.rabbitmq()
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
})

/** Stops Redis without saving, as in a crash. */
export const stopRedis = Effect.promise(async () => {
  await run("redis-cli", ["-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave"]).catch(() => undefined)
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      await probe.redis()
      await new Promise((resolve) => setTimeout(resolve, 100))
    } catch {
      return
    }
  }
})

/** Starts Redis as the machine runs it, and waits until it answers. */
export const startRedis = Effect.promise(async () => {
  try {
    await probe.redis()
    return
  } catch {
    // not running: start it below
  }
  await run("redis-server", [
    "--daemonize",
    "yes",
    "--bind",
    "127.0.0.1",
    "--port",
    "6379",
    "--save",
    "",
    "--appendonly",
    "no"
  ])
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      await probe.redis()
      return
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }
})

/** Runs a Redis command from a connection of the test's own. */
export const redisCommand = (...args: ReadonlyArray<string>) =>
  Effect.promise(() =>
    run("redis-cli", ["-h", "127.0.0.1", "-p", "6379", ...args]).then((out) => out.stdout.trim())
  )

/** The rows of a query on the test's store. */
export const rows = <A extends object>(
  query: (sql: SqlClient.SqlClient) => Effect.Effect<ReadonlyArray<A>, unknown>
) => Effect.flatMap(SqlClient.SqlClient, (sql) => Effect.orDie(query(sql)))

/** A SKU's ledger, oldest first: what each movement did and why. */
export const ledgerOf = (sku: string) =>
  rows<{ reason: string; delta: number }>(
    (sql) => sql`select reason, delta from stock_movements where sku = ${sku} order by id`
  )
