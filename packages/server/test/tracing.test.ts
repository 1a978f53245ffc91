/**
 * Tracing and logs across the three services: the built `inv-server` as three processes with the
 * standard OTEL_* variables pointing at a tiny OTLP/HTTP receiver on loopback (the exporter sends
 * OTLP JSON to POST /v1/traces). One adjustment over HTTP must give one trace: the request's span
 * in stock-updater, the relay's `publish` span, and the `consume` spans of stock-checker and
 * supplier-sync, children of the context the CloudEvent carried.
 *
 * The logs of the same run: JSON lines naming the service, the request id (the caller's
 * x-request-id) and the trace id; the bearer token never appears in any process's output.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { gunzipSync } from "node:zlib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { servicesReachable } from "./eventFixtures.js"
import {
  eventually,
  isolatedDeployment,
  type ServiceProcess,
  send,
  startService,
  stopAll
} from "./serviceProcesses.js"
import { TEST_SECRET, testToken } from "./utils.js"

const reachable = await servicesReachable("postgres", "rabbitmq", "redis")

interface ReceivedSpan {
  readonly service: string
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
}

/** An OTLP/HTTP receiver that keeps every span it is sent (JSON encoding). */
const otlpReceiver = async () => {
  const spans: Array<ReceivedSpan> = []
  const server: Server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      if (request.method !== "POST" || request.url !== "/v1/traces") {
        response.writeHead(404).end()
        return
      }
      let body = Buffer.concat(chunks)
      if (request.headers["content-encoding"] === "gzip") body = gunzipSync(body)
      const payload = JSON.parse(body.toString("utf8"))
      for (const resourceSpans of payload.resourceSpans ?? []) {
        const service =
          resourceSpans.resource?.attributes?.find((a: any) => a.key === "service.name")?.value
            ?.stringValue ?? "unknown"
        for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
          for (const span of scopeSpans.spans ?? []) {
            spans.push({
              service,
              name: span.name,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId || undefined
            })
          }
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

describe.skipIf(!reachable)("tracing and logs (OpenTelemetry, three services)", () => {
  const cleanups: Array<() => Promise<unknown>> = []
  const processes: Array<ServiceProcess> = []
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>
  const services = {} as Record<"stock-updater" | "stock-checker" | "supplier-sync", ServiceProcess>

  beforeAll(async () => {
    receiver = await otlpReceiver()
    cleanups.push(receiver.close)
    const deployment = await isolatedDeployment("tracing")
    cleanups.push(deployment.remove)
    const env = {
      ...deployment.environment,
      INV_JWT_SECRET: TEST_SECRET,
      INV_LOG_LEVEL: "debug",
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      // Export within a fraction of a second instead of the default 5 s.
      OTEL_BSP_SCHEDULE_DELAY: "100"
    }
    // One at a time: the first migrates the fresh database.
    for (const name of ["supplier-sync", "stock-updater", "stock-checker"] as const) {
      services[name] = await startService(name, env)
      processes.push(services[name])
    }
    cleanups.unshift(() => stopAll(processes))
  }, 90_000)

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  }, 60_000)

  it("one trace follows an adjustment from the HTTP request through the outbox and RabbitMQ to both consumers", async () => {
    const token = await testToken("admin")
    const auth = { authorization: `Bearer ${token}` }
    const sku = `TRACE-${Date.now().toString(36).toUpperCase()}`
    const product = await send(
      services["supplier-sync"].base,
      "POST",
      "/v1/products",
      { sku, name: "Traced widget", reorderPoint: 5, reorderQuantity: 10 },
      auth
    )
    expect(product.status, JSON.stringify(product.body)).toBe(201)
    // The queues are declared once each consumer runs: wait for /ready everywhere.
    for (const service of processes) {
      await eventually(
        "ready",
        async () => ((await fetch(`${service.base}/ready`)).ok ? true : undefined),
        20_000
      )
    }

    const requestId = `trace-test-${sku}`
    const adjusted = await send(
      services["stock-updater"].base,
      "POST",
      `/v1/stock/${sku}/adjust`,
      { delta: 4 },
      { ...auth, "x-request-id": requestId }
    )
    expect(adjusted.status, JSON.stringify(adjusted.body)).toBe(200)
    expect(adjusted.headers.get("x-request-id")).toBe(requestId)

    const request = await eventually(
      "stock-updater exported the request's span",
      async () =>
        receiver.spans.find(
          (span) => span.service === "stock-updater" && span.name === "POST /v1/stock/:sku/adjust"
        ),
      15_000
    )
    const inTrace = (service: string, name: string) =>
      receiver.spans.find(
        (span) => span.traceId === request.traceId && span.service === service && span.name === name
      )
    const consumed = await eventually(
      "both consumers exported a consume span in the request's trace",
      async () => {
        const checker = inTrace("stock-checker", "consume stock.updated")
        const sync = inTrace("supplier-sync", "consume stock.updated")
        return checker && sync ? { checker, sync } : undefined
      },
      20_000
    )
    // The relay's span ends only when the broker confirms, and each process exports in its own
    // batches: it may arrive after the consumers' spans.
    const publish = await eventually(
      "the relay's publish span is in the trace",
      async () => inTrace("stock-updater", "publish stock.updated"),
      15_000
    )
    // The consumers' spans are children of the context the event carried: the relay's span.
    expect(consumed.checker.parentSpanId).toBe(publish!.spanId)
    expect(consumed.sync.parentSpanId).toBe(publish!.spanId)
    expect(consumed.checker.traceId).toBe(request.traceId)
    expect(consumed.sync.traceId).toBe(request.traceId)
    // And the relay's span hangs below the request (directly or through the SDK's spans).
    const ids = new Set(receiver.spans.filter((s) => s.traceId === request.traceId).map((s) => s.spanId))
    expect(publish!.parentSpanId && ids.has(publish!.parentSpanId)).toBe(true)

    // Logs: JSON lines with the service, the request id and the trace id of the request.
    const lines = services["stock-updater"]
      .output()
      .stdout.split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line))
    const requestLine = lines.find((line) => line.annotations?.requestId === requestId)
    expect(requestLine, "a log line of the request").toBeDefined()
    expect(requestLine.annotations).toMatchObject({ service: "stock-updater", traceId: request.traceId })
    const consumerLines = services["stock-checker"]
      .output()
      .stdout.split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line))
    expect(
      consumerLines.find(
        (line) =>
          line.annotations?.traceId === request.traceId && typeof line.annotations?.eventId === "string"
      ),
      "stock-checker logged its handling of the event with the event id and the trace id"
    ).toMatchObject({ annotations: { service: "stock-checker", consumer: "stock-checker" } })

    // The token, and the Authorization header, are never written by any process.
    for (const service of processes) {
      const { stdout, stderr } = service.output()
      expect(stdout + stderr).not.toContain(token)
      expect((stdout + stderr).toLowerCase()).not.toContain("bearer ")
    }
  }, 60_000)
})
