// The framework's floor for a cached read (bench/server.mjs part 2): a minimal @effect/platform
// HttpApi endpoint, GET /v1/stock/:sku, answering the constant body given in BODY on PORT, with
// nothing of the project's own. Run as a child process by bench/server.mjs.

import { createServer } from "node:http"
import { createRequire } from "node:module"

// The server package's copies of Effect and the platform: the ones stock-checker runs on.
const require = createRequire(new URL("../packages/server/package.json", import.meta.url))
const { Effect, Layer, Schema } = require("effect")
const { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } = require("@effect/platform")
const { NodeHttpServer, NodeRuntime } = require("@effect/platform-node")

const body = JSON.parse(process.env.BODY)
const sku = HttpApiSchema.param("sku", Schema.String)
const Api = HttpApi.make("floor").add(
  HttpApiGroup.make("stock").add(HttpApiEndpoint.get("level")`/v1/stock/${sku}`.addSuccess(Schema.Unknown))
)
const handlers = HttpApiBuilder.group(Api, "stock", (h) => h.handle("level", () => Effect.succeed(body)))

HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide(handlers))),
  Layer.provide(NodeHttpServer.layer(createServer, { port: Number(process.env.PORT), host: "127.0.0.1" })),
  Layer.launch,
  NodeRuntime.runMain
)
