/**
 * One service's HTTP server: its part of the HttpApi contract, plus the operational routes
 * (`/health`, `/ready`, `/metrics`, `/openapi.json`, `/docs`), request metrics, and JSON bodies
 * for the errors the router answers itself (unknown routes).
 */
import { createServer } from "node:http"
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { measureRequests, prometheusText, routeTemplates } from "../infra/metrics.js"

/** A dependency `/ready` checks: its name is what the 503 body names when it does not answer. */
export interface ReadinessCheck {
  readonly name: string
  readonly ready: Effect.Effect<boolean>
}

const operationalRoutes = (checks: ReadonlyArray<ReadinessCheck>) =>
  HttpApiBuilder.Router.use((router) =>
    Effect.gen(function* () {
      yield* router.get("/health", HttpServerResponse.unsafeJson({ status: "alive" }))
      yield* router.get(
        "/ready",
        Effect.gen(function* () {
          const results = yield* Effect.forEach(
            checks,
            (check) => Effect.map(check.ready, (ok) => [check.name, ok] as const),
            {
              concurrency: "unbounded"
            }
          )
          const failing = results.filter(([, ok]) => !ok).map(([name]) => name)
          const body = {
            status: failing.length === 0 ? "ready" : "not ready",
            checks: Object.fromEntries(results.map(([name, ok]) => [name, ok ? "ok" : "not answering"])),
            ...(failing.length > 0 ? { failing, message: `not answering: ${failing.join(", ")}` } : {})
          }
          return HttpServerResponse.unsafeJson(body, { status: failing.length === 0 ? 200 : 503 })
        })
      )
      yield* router.get(
        "/metrics",
        Effect.map(Metric.snapshot, (snapshot) =>
          HttpServerResponse.text(prometheusText(snapshot), {
            contentType: "text/plain; version=0.0.4; charset=utf-8"
          })
        )
      )
    })
  )

/** A failure the router or the body parser raised, as a failure or a defect. */
const routerError = (cause: Cause.Cause<unknown>) =>
  [...Cause.failures(cause), ...Cause.defects(cause)].find(
    (error): error is { readonly _tag: "RouteNotFound" | "RequestError"; readonly message?: string } => {
      const tag = (error as { readonly _tag?: unknown })?._tag
      return tag === "RouteNotFound" || tag === "RequestError"
    }
  )

/**
 * The router's own 404 and the body parser's 400 get a JSON body that names the problem, like
 * every error the contract declares (the platform answers them with an empty body).
 */
const routerErrorsAsJson = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.catchAllCause(app, (cause) => {
    const error = routerError(cause)
    if (!error) return Effect.failCause(cause)
    return Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
      const path = request.url.split("?")[0]
      return error._tag === "RouteNotFound"
        ? HttpServerResponse.unsafeJson(
            {
              _tag: "RouteNotFound",
              message: `No route for ${request.method} ${path}. The endpoints are listed at /docs and /openapi.json.`
            },
            { status: 404 }
          )
        : HttpServerResponse.unsafeJson(
            {
              _tag: "InvalidRequest",
              message: `Cannot read the request to ${request.method} ${path}: the body must be valid JSON (content-type: application/json).`
            },
            { status: 400 }
          )
    })
  })

export interface ServeOptions {
  readonly port: number
  readonly host: string
  readonly readiness: ReadonlyArray<ReadinessCheck>
}

/**
 * Serves `api` (whose group handlers the caller provides) until the scope closes; closing stops
 * taking connections and waits for the requests in flight.
 */
export const serve = <
  Id extends string,
  Groups extends import("@effect/platform/HttpApiGroup").HttpApiGroup.Any,
  E,
  R
>(
  api: HttpApi.HttpApi<Id, Groups, E, R>,
  options: ServeOptions
) => {
  const routes = routeTemplates(api as unknown as HttpApi.HttpApi.Any)
  return HttpApiBuilder.serve(measureRequests(routes)).pipe(
    // Inside the platform's error handling, which would otherwise answer these with an empty body.
    Layer.provide(HttpApiBuilder.middleware(routerErrorsAsJson)),
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(operationalRoutes(options.readiness)),
    Layer.provide(HttpApiBuilder.api(api)),
    HttpServer.withLogAddress,
    Layer.provide(NodeHttpServer.layer(createServer, { port: options.port, host: options.host }))
  )
}
