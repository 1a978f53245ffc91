/**
 * The service's log lines: JSON lines for log collectors (readable lines at a terminal). Every
 * line carries the annotations of where it was written: `service` (the whole process), `requestId`
 * (an HTTP request), `consumer` and `eventId` (an event's handling), and, when tracing is on,
 * `traceId` and `spanId`, so a line leads to its trace and back.
 *
 * Secrets stay out: nothing here logs headers, and URLs are logged only through `Store.safeUrl`.
 */
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { Event } from "@invkit/sdk"
import * as Context from "effect/Context"
import * as FiberRef from "effect/FiberRef"
import * as FiberRefs from "effect/FiberRefs"
import * as HashMap from "effect/HashMap"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"
import { requestIdOf } from "./metrics.js"

/**
 * Adds the id of the HTTP request a line was written for (infra/metrics.ts keeps it, so a request
 * that logs nothing pays for no annotation), and the trace and span ids of the span it was written
 * in, when it is a real trace.
 */
const withRequestAndTraceIds = <O>(logger: Logger.Logger<unknown, O>): Logger.Logger<unknown, O> =>
  Logger.mapInputOptions(logger, (options) => {
    const context = FiberRefs.getOrDefault(options.context, FiberRef.currentContext)
    let annotations = options.annotations
    const request = Context.getOption(context, HttpServerRequest.HttpServerRequest)
    const requestId = Option.isSome(request) ? requestIdOf(request.value) : undefined
    if (requestId !== undefined) annotations = HashMap.set(annotations, "requestId", requestId as unknown)
    const span = Context.getOption(context, Tracer.ParentSpan)
    if (Option.isSome(span) && Event.traceparentOf(span.value) !== undefined) {
      annotations = annotations.pipe(
        HashMap.set("traceId", span.value.traceId as unknown),
        HashMap.set("spanId", span.value.spanId as unknown)
      )
    }
    return annotations === options.annotations ? options : { ...options, annotations }
  })

/** JSON lines, or readable lines when `tty`. */
export const layer = (tty: boolean): Layer.Layer<never> =>
  Logger.replace(
    Logger.defaultLogger,
    tty
      ? withRequestAndTraceIds(Logger.prettyLoggerDefault)
      : Logger.withConsoleLog(withRequestAndTraceIds(Logger.jsonLogger))
  )
