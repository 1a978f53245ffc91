// The framework's floor (bench/server.mjs): a minimal @effect/platform HttpApi server with nothing
// of the project's own, run as a child process on PORT.
// - GET /v1/stock/:sku answers the constant body given in BODY: the floor of a cached read (part 2).
// - POST /v1/stock/:sku/adjust decodes a payload of the adjustment's fields (an integer delta and
//   a reason) and answers the constant body given in ADJUST_BODY: the floor of an HTTP adjustment
//   (part 1), the platform's share of it with no store, no authentication and no events.

import { createServer } from "node:http"
import { createRequire } from "node:module"

// The server package's copies of Effect and the platform: the ones stock-checker runs on.
const require = createRequire(new URL("../packages/server/package.json", import.meta.url))
const { Effect, Layer, Schema } = require("effect")
const { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup, HttpApiSchema } = require("@effect/platform")
const { NodeHttpServer, NodeRuntime } = require("@effect/platform-node")

const body = JSON.parse(process.env.BODY ?? "null")
const adjustBody = JSON.parse(process.env.ADJUST_BODY ?? "null")
const sku = HttpApiSchema.param("sku", Schema.String)
const Api = HttpApi.make("floor").add(
  HttpApiGroup.make("stock")
    .add(HttpApiEndpoint.get("level")`/v1/stock/${sku}`.addSuccess(Schema.Unknown))
    .add(
      HttpApiEndpoint.post("adjust")`/v1/stock/${sku}/adjust`
        .setPayload(Schema.Struct({ delta: Schema.Int, reason: Schema.String }))
        .addSuccess(Schema.Unknown)
    )
)
const handlers = HttpApiBuilder.group(Api, "stock", (h) =>
  h.handle("level", () => Effect.succeed(body)).handle("adjust", () => Effect.succeed(adjustBody))
)

HttpApiBuilder.serve().pipe(
  Layer.provide(HttpApiBuilder.api(Api).pipe(Layer.provide(handlers))),
  Layer.provide(NodeHttpServer.layer(createServer, { port: Number(process.env.PORT), host: "127.0.0.1" })),
  Layer.launch,
  NodeRuntime.runMain
)
