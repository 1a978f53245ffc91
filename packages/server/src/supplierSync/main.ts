/**
 * supplier-sync: the catalog, suppliers and restock orders over HTTP; the sync worker and
 * scheduler (pg-boss), which also sweeps expired reservations; the consumer that applies the
 * reorder rule.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { Api, SyncJobs } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import type { ServerConfig } from "../config.js"
import * as Http from "../http/server.js"
import * as EventWiring from "../infra/eventWiring.js"
import { sampleForever, sampleJobsQueued, syncEventRecorder } from "../infra/inventoryMetrics.js"
import * as ServiceProcess from "../serviceProcess.js"
import * as Handlers from "./handlers.js"

/**
 * Works queued and scheduled syncs until the process stops; logs and measures each run's outcome,
 * and samples the queue's backlog.
 */
export const syncWorker: Effect.Effect<void, never, SyncJobs.SyncJobs | SqlClient.SqlClient> = Effect.flatMap(
  SyncJobs.SyncJobs,
  (jobs) =>
    Effect.flatMap(Effect.runtime<never>(), (runtime) => {
      const record = syncEventRecorder()
      return jobs.work({
        onSweep: (result) =>
          Runtime.runFork(runtime)(
            Effect.logInfo("reservations expired").pipe(Effect.annotateLogs({ expired: result.expired }))
          ),
        onEvent: (event) =>
          Runtime.runFork(runtime)(
            Effect.zipRight(
              record(event),
              Effect.logInfo(`sync ${event.type}`).pipe(
                Effect.annotateLogs({
                  supplier: event.supplierId,
                  attempt: event.attempt,
                  ...(event.reason ? { reason: event.reason } : {})
                })
              )
            )
          )
      })
    })
).pipe(
  Effect.catchAll((error) => Effect.logError(`the sync worker stopped: ${error.message}`)),
  (worker) =>
    Effect.all([worker, sampleForever("the job queue", sampleJobsQueued)], {
      concurrency: "unbounded",
      discard: true
    })
)

export const service: ServiceProcess.ServiceProcess = {
  name: "supplier-sync",
  http: (options) => Http.serve(Api.SupplierSyncApi, Handlers.layer, options),
  jobs: true,
  runsRelay: false,
  usesCache: false,
  background: Effect.all([syncWorker, ServiceProcess.runConsumers(EventWiring.consumers["supplier-sync"])], {
    concurrency: "unbounded",
    discard: true
  })
}

export const main = (config: ServerConfig) => ServiceProcess.layer(service, config)
