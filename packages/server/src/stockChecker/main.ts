/** stock-checker: stock reads over HTTP through the cache, and the consumer that drops entries. */
import { Api } from "@invkit/sdk"
import type { ServerConfig } from "../config.js"
import * as Http from "../http/server.js"
import * as EventWiring from "../infra/eventWiring.js"
import * as ServiceProcess from "../serviceProcess.js"
import * as Handlers from "./handlers.js"

export const service: ServiceProcess.ServiceProcess = {
  name: "stock-checker",
  http: (options) => Http.serve(Api.StockCheckerApi, Handlers.layer, options),
  jobs: false,
  runsRelay: false,
  usesCache: true,
  background: ServiceProcess.runConsumers(EventWiring.consumers["stock-checker"])
}

export const main = (config: ServerConfig) => ServiceProcess.layer(service, config)
