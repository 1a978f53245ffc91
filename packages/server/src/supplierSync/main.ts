/**
 * supplier-sync: the catalog, suppliers and restock orders over HTTP; the sync worker and
 * scheduler (pg-boss); the consumer that applies the reorder rule.
 */
import { Api, SyncJobs } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import type { ServerConfig } from "../config.js"
import * as Http from "../http/server.js"
import * as EventWiring from "../infra/eventWiring.js"
import * as ServiceProcess from "../serviceProcess.js"
import * as Handlers from "./handlers.js"

/** Works queued and scheduled syncs until the process stops; logs each run's outcome. */
export const syncWorker: Effect.Effect<void, never, SyncJobs.SyncJobs> = Effect.flatMap(
  SyncJobs.SyncJobs,
  (jobs) =>
    Effect.flatMap(Effect.runtime<never>(), (runtime) =>
      jobs.work({
        onEvent: (event) =>
          Runtime.runFork(runtime)(
            Effect.logInfo(`sync ${event.type}`).pipe(
              Effect.annotateLogs({
                supplier: event.supplierId,
                attempt: event.attempt,
                ...(event.reason ? { reason: event.reason } : {})
              })
            )
          )
      })
    )
).pipe(Effect.catchAll((error) => Effect.logError(`the sync worker stopped: ${error.message}`)))

export const service: ServiceProcess.ServiceProcess = {
  http: (options) => Http.serve(Api.SupplierSyncApi, options).pipe(Layer.provide(Handlers.layer)),
  jobs: true,
  usesCache: false,
  background: Effect.all([syncWorker, ServiceProcess.runConsumers(EventWiring.consumers["supplier-sync"])], {
    concurrency: "unbounded",
    discard: true
  })
}

export const main = (config: ServerConfig) => ServiceProcess.layer(service, config)
