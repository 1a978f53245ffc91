/**
 * `inv-server all`: the three services in one process, serving the whole contract
 * (`InventoryApi`), with the relay, every consumer and the sync worker.
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import { Api } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { ServerConfig } from "../config.js"
import * as Http from "../http/server.js"
import * as EventWiring from "../infra/eventWiring.js"
import * as ServiceProcess from "../serviceProcess.js"
import { reservationChecks, stockChecks } from "../stockChecker/handlers.js"
import { reservationWrites, stockUpdates } from "../stockUpdater/handlers.js"
import { catalog, restock, supplierRoutes } from "../supplierSync/handlers.js"
import { syncWorker } from "../supplierSync/main.js"

const handlers = Layer.mergeAll(
  HttpApiBuilder.group(Api.InventoryApi, "stockUpdates", stockUpdates),
  HttpApiBuilder.group(Api.InventoryApi, "stockChecks", stockChecks),
  HttpApiBuilder.group(Api.InventoryApi, "reservationWrites", reservationWrites),
  HttpApiBuilder.group(Api.InventoryApi, "reservationChecks", reservationChecks),
  HttpApiBuilder.group(Api.InventoryApi, "catalog", catalog),
  HttpApiBuilder.group(Api.InventoryApi, "suppliers", supplierRoutes),
  HttpApiBuilder.group(Api.InventoryApi, "restock", restock)
)

export const service: ServiceProcess.ServiceProcess = {
  name: "all",
  http: (options) => Http.serve(Api.InventoryApi, handlers, options),
  jobs: true,
  runsRelay: true,
  usesCache: true,
  background: Effect.all(
    [
      syncWorker,
      ServiceProcess.consumersThenRelay(
        Effect.all(
          [
            ServiceProcess.runConsumers(EventWiring.consumers["stock-updater"]),
            ServiceProcess.runConsumers(EventWiring.consumers["stock-checker"]),
            ServiceProcess.runConsumers(EventWiring.consumers["supplier-sync"])
          ],
          { concurrency: "unbounded", discard: true }
        )
      )
    ],
    { concurrency: "unbounded", discard: true }
  )
}

export const main = (config: ServerConfig) => ServiceProcess.layer(service, config)
