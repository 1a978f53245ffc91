/**
 * The HTTP client under the remote client and the supplier connectors: `@effect/platform`'s fetch
 * client over undici's `fetch`, through a dispatcher of our own (an extra CA, the public-only
 * agent of a server's feeds). Not `@effect/platform-node`'s client: that package requires
 * `@effect/cluster`, `@effect/rpc` and `@effect/workflow` as peers and brings `@parcel/watcher`
 * (an install script), none of which an HTTP client needs.
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Dispatcher, RequestInit as UndiciRequestInit } from "undici"

/**
 * An `HttpClient` whose requests go through `dispatcher` (default: a fresh undici `Agent`, never
 * the process-wide one, which Node's own fetch may have set); the dispatcher is destroyed with
 * the layer. undici is loaded when the layer is built: most commands never make a request.
 *
 * Redirects are answered, not followed (as undici's `request` did): a client that follows them
 * would carry the bearer token or a connector's API key to wherever a 3xx points.
 */
export const layer = (dispatcher?: Dispatcher): Layer.Layer<HttpClient.HttpClient> =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const undici = yield* Effect.promise(() => import("undici"))
      const agent = yield* Effect.acquireRelease(
        Effect.sync(() => dispatcher ?? new undici.Agent()),
        (agent) => Effect.promise(() => agent.destroy())
      )
      const init: UndiciRequestInit = { dispatcher: agent, redirect: "manual" }
      return Layer.provide(
        FetchHttpClient.layer,
        Layer.succeedContext(
          Context.make(FetchHttpClient.Fetch, undici.fetch as unknown as typeof globalThis.fetch).pipe(
            // Node's own types describe its bundled undici, an older line than this one.
            Context.add(FetchHttpClient.RequestInit, init as unknown as RequestInit)
          )
        )
      )
    })
  )
