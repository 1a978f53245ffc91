/**
 * Tracing with OpenTelemetry, configured by the standard OTEL_* variables and off unless they ask
 * for it. On, spans go to an OTLP/HTTP (JSON) endpoint through a batching processor; off, the
 * process runs with Effect's tracer disabled, so spans are no-ops and no trace context is stored
 * or sent.
 *
 * One trace follows a stock change: the HTTP request's span (a `traceparent` header from the
 * caller is honoured) → the SDK's write, which stores the span's `traceparent` in the outbox row →
 * the relay's `publish` span, whose context travels in the CloudEvent's `traceparent` extension
 * attribute → each consumer's `consume` span, a child of it.
 */
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Event } from "@invkit/sdk"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor } from "@opentelemetry/sdk-trace-base"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as FiberRef from "effect/FiberRef"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"

/** What the OTEL_* variables say about traces. */
export const tracingConfig = Config.all({
  endpoint: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")),
  tracesEndpoint: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
  exporter: Config.option(Config.nonEmptyString("OTEL_TRACES_EXPORTER")),
  disabled: Config.boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  serviceName: Config.option(Config.nonEmptyString("OTEL_SERVICE_NAME"))
})

/**
 * On when an OTLP endpoint is set or OTEL_TRACES_EXPORTER=otlp (which defaults to the local
 * collector, http://localhost:4318); off with neither, with OTEL_TRACES_EXPORTER=none, or with
 * OTEL_SDK_DISABLED=true.
 */
export const tracingEnabled = (config: Config.Config.Success<typeof tracingConfig>): boolean => {
  if (config.disabled) return false
  const exporter = Option.map(config.exporter, (value) => value.trim().toLowerCase())
  if (Option.isSome(exporter)) return exporter.value.split(",").includes("otlp")
  return Option.isSome(config.endpoint) || Option.isSome(config.tracesEndpoint)
}

/**
 * The tracer for a service process. The exporter reads the rest of the standard variables itself
 * (endpoints, OTEL_EXPORTER_OTLP_HEADERS, timeouts); OTEL_BSP_* tune the batching.
 */
export const layer = (service: string): Layer.Layer<never> =>
  Layer.unwrapEffect(
    Effect.gen(function* () {
      const config = yield* Effect.orDie(tracingConfig)
      if (!tracingEnabled(config)) return Layer.setTracerEnabled(false)
      yield* Effect.logInfo("tracing on: exporting spans over OTLP/HTTP")
      return Layer.discard(
        NodeSdk.layer(() => ({
          resource: { serviceName: Option.getOrElse(config.serviceName, () => service) },
          spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter()),
          shutdownTimeout: "3 seconds"
        }))
      )
    })
  )

/**
 * Traces the HTTP requests `traced` picks, and none when tracing is off: the platform's tracer
 * middleware would otherwise still parse the URL, copy the headers and name a no-op span (a second
 * route match) on every request.
 */
export const tracedRequests =
  (traced: (request: HttpServerRequest.HttpServerRequest) => boolean) =>
  <A, E, R>(layer: Layer.Layer<A, E, R>): Layer.Layer<A, E, R> =>
    Layer.unwrapEffect(
      Effect.map(FiberRef.get(FiberRef.currentTracerEnabled), (on) =>
        HttpMiddleware.withTracerDisabledWhen(layer, on ? (request) => !traced(request) : () => true)
      )
    )

/**
 * Runs a consumer's work for one event in a `consume` span, a child of the context the event
 * carries (none: a trace of its own), with the event in every log line it writes. With tracing off
 * there is no span: even a no-op span captured a stack trace and parsed the event's
 * `traceparent` twice, for every event a consumer handled.
 */
/** The debug line a consumer writes for each event it handled. */
const logHandled = (event: Event.CloudEvent) => Effect.logDebug(`event ${event.type} handled`)

export const consumeSpan =
  (consumer: string, event: Event.CloudEvent, attempt: number) =>
  <A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    const logged = work.pipe(
      Effect.tap(() => logHandled(event)),
      Effect.annotateLogs({ consumer, eventId: event.id })
    )
    return Effect.flatMap(FiberRef.get(FiberRef.currentTracerEnabled), (on) => {
      if (!on) return logged
      const parent = Event.parentSpanOf(event.traceparent)
      return Effect.withSpan(logged, `consume ${event.type}`, {
        kind: "consumer",
        root: Option.isNone(parent),
        parent: Option.getOrUndefined(parent),
        // Where this helper was called says nothing about the event.
        captureStackTrace: false,
        attributes: {
          "messaging.system": "rabbitmq",
          "messaging.consumer.group.name": consumer,
          "messaging.message.id": event.id,
          "messaging.operation.type": "process",
          "invkit.attempt": attempt
        }
      })
    })
  }

/**
 * `consumeSpan` for events a consumer handles together in one piece of work. With tracing on, each
 * event's span, as one by one. Off, the work is wrapped once, and each event's "handled" line is
 * written only when debug lines are: wrapped once per event, a batch of 64 paid 64 log-level
 * checks and 64 annotation maps, and its own log lines carried the first event's id.
 */
export const consumeBatchSpan =
  (consumer: string, events: ReadonlyArray<Event.CloudEvent>) =>
  <A, E, R>(work: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(FiberRef.get(FiberRef.currentTracerEnabled), (on) =>
      on
        ? events.reduce((traced, event) => consumeSpan(consumer, event, 1)(traced), work)
        : work.pipe(
            Effect.tap(() => logEachHandled(events)),
            Effect.annotateLogs({ consumer })
          )
    )

const logEachHandled = (events: ReadonlyArray<Event.CloudEvent>) =>
  Effect.flatMap(FiberRef.get(FiberRef.currentMinimumLogLevel), (minimum) =>
    LogLevel.greaterThan(minimum, LogLevel.Debug)
      ? Effect.void
      : Effect.forEach(
          events,
          (event) => logHandled(event).pipe(Effect.annotateLogs({ eventId: event.id })),
          { discard: true }
        )
  )
