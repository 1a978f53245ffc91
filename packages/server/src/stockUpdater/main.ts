/** stock-updater: stock writes over HTTP, the outbox relay, and the inbound stock events. */
import { Api } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import type { ServerConfig } from "../config.js"
import * as Http from "../http/server.js"
import * as EventWiring from "../infra/eventWiring.js"
import * as ServiceProcess from "../serviceProcess.js"
import * as Handlers from "./handlers.js"

export const service: ServiceProcess.ServiceProcess = {
  name: "stock-updater",
  http: (options) => Http.serve(Api.StockUpdaterApi, Handlers.layer, options),
  jobs: false,
  runsRelay: true,
  usesCache: false,
  // The relay publishes once this service's queue and those of the other two groups exist.
  background: ServiceProcess.consumersThenRelay(
    Effect.all(
      [
        ServiceProcess.runConsumers(EventWiring.consumers["stock-updater"]),
        ServiceProcess.declareGroups(EventWiring.consumers["stock-checker"]),
        ServiceProcess.declareGroups(EventWiring.consumers["supplier-sync"])
      ],
      { concurrency: "unbounded", discard: true }
    )
  )
}

export const main = (config: ServerConfig) => ServiceProcess.layer(service, config)
