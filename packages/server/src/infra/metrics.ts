/**
 * Request metrics with Effect's Metric, exported as Prometheus text (exposition format 0.0.4).
 * Routes are labelled by their template (`/v1/stock/:sku`), never by the raw path, so a client
 * cannot grow the label set without bound.
 */
import { randomUUID } from "node:crypto"
import type { IncomingMessage, Server, ServerResponse } from "node:http"
import type { Server as TlsServer } from "node:https"
import type * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiReflect from "@effect/platform/HttpApi"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricKey from "effect/MetricKey"
import * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import type * as MetricPair from "effect/MetricPair"
import * as MetricState from "effect/MetricState"
import * as Option from "effect/Option"

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
  /**
   * The contract's group and endpoint, and whether it declares query parameters; none for the
   * operational routes.
   */
  readonly endpoint?: { readonly group: string; readonly name: string; readonly takesQuery: boolean }
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
        endpoint: {
          group: group.identifier,
          name: endpoint.name,
          takesQuery: Option.isSome(endpoint.urlParamsSchema)
        }
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

/** What a failed request answered: the router's 404, the body reader's 400, or a defect's 500. */
const statusOfFailure = (cause: Cause.Cause<unknown>) => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some") {
    const error = failure.value as { readonly _tag?: string }
    if (error?._tag === "RouteNotFound") return 404
    if (error?._tag === "RequestError") return 400
  }
  return Cause.isInterruptedOnly(cause) ? 499 : 500
}

const secondsSince = (started: number) => (performance.now() - started) / 1000

/**
 * The access line of each request (method, route template, status, duration; never headers),
 * written as the request's effect exits, in its fiber: it carries the request's id, span and
 * annotations like every other line of the request. Only served when debug lines are written: the
 * steps it adds are CPU on every request.
 */
export const accessLog =
  (routes: ReadonlyArray<RouteTemplate>) =>
  <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R | HttpServerRequest.HttpServerRequest> =>
    Effect.withFiberRuntime((fiber) => {
      const request = Context.unsafeGet(fiber.currentContext, HttpServerRequest.HttpServerRequest)
      const started = performance.now()
      return Effect.onExit(app, (exit) =>
        Effect.logDebug("request answered").pipe(
          Effect.annotateLogs({
            method: request.method,
            route: routeOf(routes, request.method, request.url),
            status: Exit.isSuccess(exit) ? exit.value.status : statusOfFailure(exit.cause),
            durationMs: Math.round(secondsSince(started) * 1000)
          })
        )
      )
    })

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

/**
 * Each request's id, by the Node request it came in on: the same object under every copy the
 * platform and the strict-request check make of the request. The log lines read it from there
 * (infra/logging.ts) only when one is written, instead of every request setting an annotation.
 */
const requestIds = new WeakMap<object, string>()

/** The id `countRequests` gave this request, if it went through it. */
export const requestIdOf = (request: HttpServerRequest.HttpServerRequest): string | undefined =>
  typeof request.source === "object" && request.source !== null ? requestIds.get(request.source) : undefined

/**
 * Counts and times every request `server` answers, and gives it a request id (the caller's
 * `x-request-id`, or a new one) that every log line of the request carries and the answer echoes.
 *
 * A listener on Node's server and on each response, not steps of the request's effect: each step
 * is CPU on every request (docs/benchmarks-log.md, section 3), and the middleware this replaces (an
 * `Effect.onExit` around the app, which masked and restored interruption, and the platform's own
 * steps around any middleware) was about a tenth of a cached read's CPU. A request is counted
 * when its response closes, with the status it was answered, 499 when its caller left first. The
 * listener goes first, so the id's header is on the response before anything answers; Node's
 * `writeHead` merges it into the answer's headers.
 */
export const countRequests =
  (routes: ReadonlyArray<RouteTemplate>) =>
  <S extends Server | TlsServer>(server: S): S => {
    const metrics = taggedMetrics()
    server.prependListener("request", (request: IncomingMessage, response: ServerResponse) => {
      const started = performance.now()
      const given = request.headers["x-request-id"]
      const requestId = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID()
      requestIds.set(request, requestId)
      response.setHeader("x-request-id", requestId)
      response.on("close", () => {
        const method = request.method ?? "GET"
        const route = routeOf(routes, method, request.url ?? "/")
        const status = response.writableFinished ? response.statusCode : 499
        const seconds = secondsSince(started)
        metrics.counter(method, route, status).unsafeUpdate(1, [])
        metrics.histogram(method, route).unsafeUpdate(seconds, [])
      })
    })
    return server
  }

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
