/**
 * A batch of events a consumer handles together, with tracing off: its work runs once, with the
 * consumer in its log lines and no event's id; each event's "handled" line is written, with its
 * own id, when debug lines are, and none is when they are not.
 */
import type { Event } from "@invkit/sdk"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import { describe, expect, it } from "vitest"
import { consumeBatchSpan } from "../src/infra/tracing.js"

const event = (id: string): Event.CloudEvent => ({
  specversion: "1.0",
  id,
  source: "/test",
  type: "stock.updated",
  data: {}
})

/** Runs a batch's work at `level`, answering its log lines (message and annotations) and runs. */
const handle = async (level: LogLevel.LogLevel) => {
  const lines: Array<{ message: unknown; annotations: Record<string, unknown> }> = []
  let runs = 0
  const work = Effect.sync(() => {
    runs++
  }).pipe(Effect.zipRight(Effect.logInfo("batch written")))
  await Effect.runPromise(
    consumeBatchSpan("stock-checker", [event("e-1"), event("e-2"), event("e-3")])(work).pipe(
      Effect.provide(
        Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ message, annotations }) => {
            lines.push({ message, annotations: Object.fromEntries(HashMap.toEntries(annotations)) })
          })
        )
      ),
      Logger.withMinimumLogLevel(level),
      Effect.withTracerEnabled(false)
    )
  )
  return { lines, runs }
}

describe("a batch of events handled together, tracing off", () => {
  it("runs the work once, its lines naming the consumer and no event", async () => {
    const { lines, runs } = await handle(LogLevel.Info)
    expect(runs).toBe(1)
    expect(lines).toEqual([{ message: ["batch written"], annotations: { consumer: "stock-checker" } }])
  })

  it("writes each event's handled line with its own id when debug lines are on", async () => {
    const { lines } = await handle(LogLevel.Debug)
    expect(lines.slice(1)).toEqual(
      ["e-1", "e-2", "e-3"].map((eventId) => ({
        message: ["event stock.updated handled"],
        annotations: { consumer: "stock-checker", eventId }
      }))
    )
  })
})
