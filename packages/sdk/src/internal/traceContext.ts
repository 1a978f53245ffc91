/**
 * The W3C trace context of a change: written with its events in the outbox, sent with them to the
 * broker, and continued by the consumers on the other side.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Tracer from "effect/Tracer"

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/**
 * A span's W3C `traceparent`, or none for a span that is not a real trace: the no-op spans of a
 * process with tracing off carry no W3C ids, so such a process stores and sends no context.
 */
export const traceparentOf = (span: Tracer.AnySpan): string | undefined => {
  const flags = span.sampled ? "01" : "00"
  const value = `00-${span.traceId}-${span.spanId}-${flags}`
  return TRACEPARENT.test(value) && !/^0+$/.test(span.traceId) ? value : undefined
}

/** The `traceparent` of the span in `context`, or null (see `currentTraceparent`). */
export const traceparentIn = (context: Context.Context<never>): string | null => {
  const span = Context.getOption(context, Tracer.ParentSpan)
  return span._tag === "Some" && span.value._tag === "Span" ? (traceparentOf(span.value) ?? null) : null
}

/**
 * The current span's `traceparent`, or null with no span (or tracing off): for the outbox row.
 * Read from the context rather than through `Effect.currentSpan`, which fails with a new
 * NoSuchElementException (an Error, its stack captured) on every write made outside a span.
 */
export const currentTraceparent: Effect.Effect<string | null> = Effect.map(
  Effect.context<never>(),
  traceparentIn
)

/** The parent span a `traceparent` names, for continuing the trace on the other side of the broker. */
export const parentSpanOf = (traceparent: string | undefined): Option.Option<Tracer.ExternalSpan> => {
  const match = traceparent === undefined ? null : TRACEPARENT.exec(traceparent.trim().toLowerCase())
  if (!match || /^0+$/.test(match[1]!) || /^0+$/.test(match[2]!)) return Option.none()
  return Option.some({
    _tag: "ExternalSpan",
    traceId: match[1]!,
    spanId: match[2]!,
    sampled: (Number.parseInt(match[3]!, 16) & 1) === 1,
    context: Context.empty()
  })
}
