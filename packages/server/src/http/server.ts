/**
 * One service's HTTP server: its part of the HttpApi contract, plus the operational routes
 * (`/health`, `/ready`, `/metrics`, `/openapi.json`, `/docs`), request metrics, and JSON bodies
 * for the errors the router answers itself (unknown routes).
 */
import { createServer } from "node:http"
import { createServer as createTlsServer } from "node:https"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import type * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSwagger from "@effect/platform/HttpApiSwagger"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpIncomingMessage from "@effect/platform/HttpIncomingMessage"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { type Api, Rules, StoreError } from "@invkit/sdk"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as InventoryMetrics from "../infra/inventoryMetrics.js"
import {
  accessLog,
  countRequests,
  operationalRoutes as operationalPaths,
  prometheusText,
  routeOf,
  routeTemplates
} from "../infra/metrics.js"
import { tracedRequests } from "../infra/tracing.js"
import { authentication, type GuardOptions, tooLarge } from "./guard.js"
import { LingeringIncomingMessage } from "./lingeringRequest.js"
import { strictRequests } from "./strictRequest.js"

/** A dependency `/ready` checks: its name is what the 503 body names when it does not answer. */
export interface ReadinessCheck {
  readonly name: string
  readonly ready: Effect.Effect<boolean>
}

/** Asks every check at once; records the outcome in the `inv_ready` gauge. */
export const evaluateReadiness = (checks: ReadonlyArray<ReadinessCheck>) =>
  Effect.forEach(checks, (check) => Effect.map(check.ready, (ok) => [check.name, ok] as const), {
    concurrency: "unbounded"
  }).pipe(Effect.tap((results) => Metric.set(InventoryMetrics.ready, results.every(([, ok]) => ok) ? 1 : 0)))

/** Seconds a client waits before retrying a 503: the pool reconnects at once, so soon is enough. */
const STORE_RETRY_AFTER_SECONDS = 1

/**
 * Every 503 (a store failure, a store that is not ready yet) says when to try again: the ones
 * built here carry the header, and a StoreError, which the platform answers after the middleware,
 * gets it as it is sent (storeDetailLogged), so no other answer pays for the check.
 */
const RETRY_AFTER = { "retry-after": String(STORE_RETRY_AFTER_SECONDS) }

const retryAfterOnStoreError = HttpApp.appendPreResponseHandler((_request, response) =>
  Effect.succeed(
    response.status === 503 && response.headers["retry-after"] === undefined
      ? HttpServerResponse.setHeaders(response, RETRY_AFTER)
      : response
  )
)

const operationalRoutes = (checks: ReadonlyArray<ReadinessCheck>) =>
  HttpApiBuilder.Router.use((router) =>
    Effect.gen(function* () {
      yield* router.get("/health", HttpServerResponse.unsafeJson({ status: "alive" }))
      yield* router.get(
        "/ready",
        Effect.gen(function* () {
          const results = yield* evaluateReadiness(checks)
          const failing = results.filter(([, ok]) => !ok).map(([name]) => name)
          const body = {
            status: failing.length === 0 ? "ready" : "not ready",
            checks: Object.fromEntries(results.map(([name, ok]) => [name, ok ? "ok" : "not answering"])),
            ...(failing.length > 0 ? { failing, message: `not answering: ${failing.join(", ")}` } : {})
          }
          return failing.length === 0
            ? HttpServerResponse.unsafeJson(body)
            : HttpServerResponse.unsafeJson(body, { status: 503, headers: RETRY_AFTER })
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

/** Characters of a path parameter the router takes, past any the contract allows (a SKU's 64, encoded). */
const MAX_PATH_PARAMETER = 4_096

/** A failure the router or the body parser raised, as a failure or a defect. */
const routerError = (cause: Cause.Cause<unknown>) =>
  [...Cause.failures(cause), ...Cause.defects(cause)].find(
    (
      error
    ): error is {
      readonly _tag: "RouteNotFound" | "RequestError"
      readonly message?: string
      readonly cause?: unknown
    } => {
      const tag = (error as { readonly _tag?: unknown })?._tag
      return tag === "RouteNotFound" || tag === "RequestError"
    }
  )

/** The body reader's failure when a body sent without a length runs past the limit. */
const isOverLimit = (error: { readonly cause?: unknown }) =>
  (error.cause as { readonly message?: unknown } | undefined)?.message === "maxBytes exceeded"

/**
 * The router's own 404 and the body parser's 400 (413 past the size limit) get a JSON body that
 * names the problem, like every error the contract declares (the platform answers them with an
 * empty body).
 */
const routerErrorsAsJson =
  (maxBodyBytes: number) =>
  <E, R>(app: HttpApp.Default<E, R>) =>
    Effect.catchAllCause(app, (cause) => {
      const error = routerError(cause)
      if (!error) {
        // Failures are the contract's errors, answered by the platform; only a defect is left here.
        if (Cause.isFailure(cause) || !Cause.isDie(cause)) {
          return Effect.failCause(cause)
        }
        if ([...Cause.defects(cause)].some(isStoreDefect)) {
          return Effect.as(
            Effect.logWarning("the store failed under a request", cause),
            HttpServerResponse.unsafeJson(
              Schema.encodeSync(StoreError)(
                new StoreError({ reason: "the database connection failed; the request may be retried" })
              ),
              { status: 503, headers: RETRY_AFTER }
            )
          )
        }
        // A bug, not the caller's mistake: the operator gets the whole cause, the caller a body
        // that says so instead of an empty 500.
        return Effect.as(
          Effect.logError("request failed unexpectedly", cause),
          HttpServerResponse.unsafeJson(
            { _tag: "InternalError", message: "The server failed unexpectedly; the error is in its log." },
            { status: 500 }
          )
        )
      }
      if (error._tag === "RequestError" && isOverLimit(error)) return Effect.succeed(tooLarge(maxBodyBytes))
      return Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
        // A path is repeated cut short: it can be as long as the request's head allows.
        const path = Rules.shortenInput(request.url.split("?")[0] ?? "")
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

/**
 * A store failure's detail is the database's own text (PostgreSQL's message, a host name): it goes
 * to the log, and the caller learns only that the store failed and may retry.
 */
const storeDetailLogged = <E, R>(app: HttpApp.Default<E, R>) =>
  Effect.catchIf(
    app,
    (error): error is E & StoreError => error instanceof StoreError,
    (error) =>
      Effect.zipRight(
        Effect.zipRight(
          retryAfterOnStoreError,
          Effect.logWarning(`store failure answered 503: ${error.reason}`)
        ),
        Effect.fail(new StoreError({ reason: STORE_FAILED }))
      )
  )

const STORE_FAILED =
  "the database did not answer or refused the request (the detail is in the server log); retry later"

/**
 * A failure of the store, or of the connection to it, that escaped as a defect: answered like
 * every other store failure (`pg` errors have no tag, so they are known by where they come from).
 */
const isStoreDefect = (defect: unknown) =>
  (defect as { readonly _tag?: unknown })?._tag === "SqlError" ||
  (defect instanceof Error &&
    /^Connection terminated|^terminating connection|ECONNRESET|ECONNREFUSED/.test(defect.message))

export interface ServeOptions {
  readonly port: number
  readonly host: string
  readonly readiness: ReadonlyArray<ReadinessCheck>
  readonly guard: GuardOptions
  /** HTTPS with this certificate (chain) and key, PEM; plain HTTP when none. */
  readonly tls: Option.Option<{ readonly cert: string; readonly key: string }>
}

/**
 * Serves `api` with its group handlers until the scope closes; closing stops taking connections
 * and waits for the requests in flight.
 */
export const serve = <Id extends string, Groups extends HttpApiGroup.HttpApiGroup.Any, E, R, HE, HR>(
  api: HttpApi.HttpApi<Id, Groups, E, R>,
  /** The handlers may need the request's actor, which the contract's Authentication provides. */
  handlers: Layer.Layer<HttpApiGroup.HttpApiGroup.ToService<Id, Groups>, HE, HR | Api.Authentication>,
  options: ServeOptions
) => {
  const routes = routeTemplates(api as unknown as HttpApi.HttpApi.Any)
  const { maxBodyBytes } = options.guard.limits
  const counted = countRequests(routes)
  // The access line adds steps to every request: only when debug lines are written.
  const served = Layer.unwrapEffect(
    Effect.map(FiberRef.get(FiberRef.currentMinimumLogLevel), (minimum) =>
      LogLevel.greaterThan(minimum, LogLevel.Debug)
        ? HttpApiBuilder.serve()
        : HttpApiBuilder.serve(accessLog(routes))
    )
  )
  return served.pipe(
    // A body sent without a length is cut off at the limit while it is read: set once for the
    // server's requests rather than provided again to each.
    Layer.provide(Layer.succeed(HttpIncomingMessage.MaxBodySize, Option.some(FileSystem.Size(maxBodyBytes)))),
    // Spans named by route template; probes and scrapes are not traced.
    HttpMiddleware.withSpanNameGenerator(
      (request) => `${request.method} ${routeOf(routes, request.method, request.url)}`
    ),
    tracedRequests((request) => !operationalPaths.includes(request.url.split("?")[0] ?? request.url)),
    // Inside the platform's error handling, which would otherwise answer these with an empty body.
    Layer.provide(
      HttpApiBuilder.middleware((app) =>
        // Its InvalidInput is one of the contract's errors: the platform answers it as a 400.
        routerErrorsAsJson(maxBodyBytes)(storeDetailLogged(strictRequests(routes)(app)) as typeof app)
      )
    ),
    Layer.provide(HttpApiSwagger.layer({ path: "/docs" })),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/openapi.json" })),
    Layer.provide(operationalRoutes(options.readiness)),
    Layer.provide(
      HttpApiBuilder.api(api).pipe(
        Layer.provide(handlers),
        Layer.provide(authentication(api as unknown as HttpApi.HttpApi.Any, options.guard))
      )
    ),
    // A path is exactly a route or none: the router's defaults would take `/V1/products/SKU-1/`
    // and `/v1//products/SKU-1` as `/v1/products/SKU-1`, so a typo could still write.
    Layer.provide(
      HttpRouter.setRouterConfig({
        caseSensitive: true,
        ignoreTrailingSlash: false,
        ignoreDuplicateSlashes: false,
        // The router matches no route with a longer parameter (100 characters by default), so a
        // SKU of 128 was a 404 "no route" instead of the 400 its rule gives (at most 64).
        maxParamLength: MAX_PATH_PARAMETER
      })
    ),
    HttpServer.withLogAddress,
    Layer.provide(
      NodeHttpServer.layer(
        () =>
          counted(
            Option.match(options.tls, {
              onNone: () => createServer({ IncomingMessage: LingeringIncomingMessage }),
              onSome: (tls) => createTlsServer({ ...tls, IncomingMessage: LingeringIncomingMessage })
            })
          ),
        { port: options.port, host: options.host }
      )
    )
  )
}
