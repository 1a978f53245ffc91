/**
 * Request metrics with Effect's Metric, exported as Prometheus text (exposition format 0.0.4).
 * Routes are labelled by their template (`/v1/stock/:sku`), never by the raw path, so a client
 * cannot grow the label set without bound.
 */
import { randomUUID } from "node:crypto"
import type { ServerResponse } from "node:http"
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiReflect from "@effect/platform/HttpApi"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"

const requests = MetricKey.counter("http_requests_total", {
  description: "HTTP requests answered, by method, route and status",
  incremental: true
})

const duration = MetricKey.histogram(
  "http_request_duration_seconds",
  MetricBoundaries.fromIterable([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]),
  "HTTP request latency in seconds, by method and route"
)

export interface RouteTemplate {
  readonly method: string
  readonly template: string
  readonly pattern: RegExp
  /** The contract's group and endpoint; none for the operational routes. */
  readonly endpoint?: { readonly group: string; readonly name: string }
}

export const operationalRoutes: ReadonlyArray<string> = [
  "/health",
  "/ready",
  "/metrics",
  "/openapi.json",
  "/docs"
]

const toPattern = (template: string) =>
  new RegExp(`^${template.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/:[A-Za-z_]+/g, "[^/]+")}/?$`)

/** The route templates of an API plus the operational routes, for labelling requests. */
export const routeTemplates = (api: HttpApi.HttpApi.Any): ReadonlyArray<RouteTemplate> => {
  const routes: Array<RouteTemplate> = operationalRoutes.map((template) => ({
    method: "*",
    template,
    pattern: toPattern(template)
  }))
  HttpApiReflect.reflect(api as HttpApi.HttpApi<string, never, never, never>, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, group }) => {
      routes.push({
        method: endpoint.method,
        template: endpoint.path,
        pattern: toPattern(endpoint.path),
        endpoint: { group: group.identifier, name: endpoint.name }
      })
    }
  })
  return routes
}

/** The route a request is for, if any. */
export const matchRoute = (routes: ReadonlyArray<RouteTemplate>, method: string, url: string) => {
  const path = url.split("?")[0] ?? url
  return routes.find((r) => (r.method === "*" || r.method === method) && r.pattern.test(path))
}

export const routeOf = (routes: ReadonlyArray<RouteTemplate>, method: string, url: string) => {
  const route = matchRoute(routes, method, url)
  // Swagger UI's assets live under /docs/…
  if (!route && url.startsWith("/docs/")) return "/docs"
  return route?.template ?? "unmatched"
}

/** What a failed request answered: the router's 404, or a defect's 500. */
const statusOfFailure = (cause: Cause.Cause<unknown>) => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value as { readonly _tag?: string }
    if (error?._tag === "RouteNotFound") return 404
    if (error?._tag === "RequestError") return 400
  }
  return Cause.isInterruptedOnly(cause) ? 499 : 500
}

/** A caller's request id is kept if it is short and plain; otherwise the server makes one. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

/**
 * The counter and histogram of each method, route and status, their tags in the key, made once:
 * `Metric.tagged` builds and hashes a new key on every update (a few per cent of a cached read).
 * The routes are templates, so the set is small and bounded.
 */
const taggedMetrics = () => {
  const counters = new Map<string, Metric.Metric.Counter<number>>()
  const histograms = new Map<string, Metric.Metric.Histogram<number>>()
  const labels = (pairs: ReadonlyArray<readonly [string, string]>) =>
    pairs.map(([key, value]) => MetricLabel.make(key, value))
  return {
    counter: (method: string, route: string, status: number) => {
      const key = `${method} ${route} ${status}`
      let counter = counters.get(key)
      if (counter === undefined) {
        counter = Metric.fromMetricKey(
          MetricKey.taggedWithLabels(
            requests,
            labels([
              ["method", method],
              ["route", route],
              ["status", String(status)]
            ])
          )
        )
        counters.set(key, counter)
      }
      return counter
    },
    histogram: (method: string, route: string) => {
      const key = `${method} ${route}`
      let histogram = histograms.get(key)
      if (histogram === undefined) {
        histogram = Metric.fromMetricKey(
          MetricKey.taggedWithLabels(
            duration,
            labels([
              ["method", method],
              ["route", route]
            ])
          )
        )
        histograms.set(key, histogram)
      }
      return histogram
    }
  }
}

/** Whether debug lines are written at all, read from the fiber that answers. */
const debugLogged = (fiber: Fiber.RuntimeFiber<unknown, unknown>) =>
  !LogLevel.greaterThan(fiber.getFiberRef(FiberRef.currentMinimumLogLevel), LogLevel.Debug)

/** The access log line: method, route template and status; never headers. */
const accessLog = (fields: {
  readonly method: string
  readonly route: string
  readonly status: number
  readonly seconds: number
}) =>
  Effect.logDebug("request answered").pipe(
    Effect.annotateLogs({
      method: fields.method,
      route: fields.route,
      status: fields.status,
      durationMs: Math.round(fields.seconds * 1000)
    })
  )

/**
 * Each request's id, by the Node request it came in on: the same object under every copy the
 * platform and the strict-request check make of the request. The log lines read it from there
 * (infra/logging.ts) only when one is written, instead of every request setting an annotation.
 */
const requestIds = new WeakMap<object, string>()

/** The id `measureRequests` gave this request, if it went through it. */
export const requestIdOf = (request: HttpServerRequest.HttpServerRequest): string | undefined =>
  typeof request.source === "object" && request.source !== null ? requestIds.get(request.source) : undefined

/**
 * Counts and times every request the app answers, and gives it a request id (the caller's
 * `x-request-id`, or a new one) that every log line of the request carries and the answer echoes.
 *
 * Each step of an effect is CPU on every request (docs/benchmarks.md, section 3). Served by Node,
 * a request is counted when Node's response closes, with the status it was answered (499 when the
 * caller left first), by a listener rather than by steps around the app: `Effect.onExit` masked
 * and restored interruption around every request, a tenth of a cached read's CPU. The id's header
 * is set on Node's response, whose `writeHead` merges it into the answer's headers. The debug
 * access line is written in the request's fiber (its log annotations), so with debug lines on,
 * and for an app not served by Node, the request is counted as its effect exits.
 */
export const measureRequests = (routes: ReadonlyArray<RouteTemplate>) => {
  const metrics = taggedMetrics()
  const record = (method: string, route: string, status: number, seconds: number) => {
    metrics.counter(method, route, status).unsafeUpdate(1, [])
    metrics.histogram(method, route).unsafeUpdate(seconds, [])
  }
  return <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> =>
    Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const started = performance.now()
      const given = request.headers["x-request-id"]
      const requestId = given !== undefined && REQUEST_ID.test(given) ? given : randomUUID()
      if (typeof request.source === "object" && request.source !== null)
        requestIds.set(request.source, requestId)
      const response = NodeHttpServerRequest.toServerResponse(request) as ServerResponse | undefined
      if (response !== undefined) response.setHeader("x-request-id", requestId)
      if (response !== undefined && !debugLogged(fiber)) {
        response.on("close", () => {
          const status = response.writableFinished ? response.statusCode : 499
          record(request.method, routeOf(routes, request.method, request.url), status, seconds(started))
        })
        return app
      }
      const measured = Effect.onExit(app, (exit) => {
        const status = Exit.isSuccess(exit) ? exit.value.status : statusOfFailure(exit.cause)
        const route = routeOf(routes, request.method, request.url)
        const fields = { method: request.method, route, status, seconds: seconds(started) }
        record(fields.method, route, status, fields.seconds)
        return debugLogged(fiber) ? accessLog(fields) : Effect.void
      })
      if (response !== undefined) return measured
      // Not served by Node (a web handler): on the response as it is sent, whichever layer answered.
      return Effect.zipRight(
        HttpApp.appendPreResponseHandler((_request, answer) =>
          Effect.succeed(HttpServerResponse.setHeader(answer, "x-request-id", requestId))
        ),
        measured
      )
    })
}

const seconds = (since: number) => (performance.now() - since) / 1000

// --- Prometheus text --------------------------------------------------------------------------

const escapeLabel = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')

const labels = (pairs: ReadonlyArray<readonly [string, string]>) =>
  pairs.length === 0 ? "" : `{${pairs.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`

const metricName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, "_")

const formatNumber = (value: number) =>
  Number.isNaN(value) ? "NaN" : value === Infinity ? "+Inf" : value === -Infinity ? "-Inf" : String(value)

/** Effect's metric snapshot as Prometheus text: counters, gauges and histograms. */
export const prometheusText = (snapshot: ReadonlyArray<MetricPair.MetricPair.Untyped>): string => {
  const families = new Map<string, { type: string; help: string | undefined; lines: Array<string> }>()
  const family = (name: string, type: string, help: string | undefined) => {
    let existing = families.get(name)
    if (!existing) {
      existing = { type, help, lines: [] }
      families.set(name, existing)
    }
    return existing.lines
  }
  for (const pair of snapshot) {
    const name = metricName(pair.metricKey.name)
    const help = pair.metricKey.description._tag === "Some" ? pair.metricKey.description.value : undefined
    const tags = pair.metricKey.tags.map((tag) => [tag.key, tag.value] as const)
    const state = pair.metricState
    if (MetricState.isCounterState(state)) {
      const type = MetricKeyType.isCounterKey(pair.metricKey.keyType) && pair.metricKey.keyType.incremental
      family(name, type ? "counter" : "gauge", help).push(
        `${name}${labels(tags)} ${formatNumber(Number(state.count))}`
      )
    } else if (MetricState.isGaugeState(state)) {
      family(name, "gauge", help).push(`${name}${labels(tags)} ${formatNumber(Number(state.value))}`)
    } else if (MetricState.isHistogramState(state)) {
      const lines = family(name, "histogram", help)
      for (const [boundary, count] of state.buckets) {
        if (boundary === Infinity || boundary === Number.MAX_VALUE) continue
        lines.push(`${name}_bucket${labels([...tags, ["le", formatNumber(boundary)]])} ${count}`)
      }
      lines.push(`${name}_bucket${labels([...tags, ["le", "+Inf"]])} ${state.count}`)
      lines.push(`${name}_sum${labels(tags)} ${formatNumber(state.sum)}`)
      lines.push(`${name}_count${labels(tags)} ${state.count}`)
    }
  }
  const out: Array<string> = []
  for (const [name, { type, help, lines }] of families) {
    if (help) out.push(`# HELP ${name} ${help.replace(/\n/g, " ")}`)
    out.push(`# TYPE ${name} ${type}`)
    out.push(...lines)
  }
  return `${out.join("\n")}\n`
}
