/**
 * One URL for a split deployment: Debian's nginx with deploy/gateway/nginx.conf (rendered into a
 * temporary directory: loopback ports, its pid, logs and temporary files there) in front of the
 * built stock-updater, stock-checker and supplier-sync as separate processes, on PostgreSQL,
 * RabbitMQ and Redis. Every route of the contract must reach the service that serves it, and the
 * CLI and the SDK work through the one URL as through `inv-server all`.
 *
 * nginx runs unprivileged: as the user running the tests, or as `nobody` when that is root. With
 * CI=true a missing nginx fails the test (.ci/run installs it); elsewhere the test is skipped,
 * saying so.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Api, connect, InsufficientStock, ProductNotFound } from "@invkit/sdk"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { defaultPorts } from "../src/config.js"
import { routeTemplates } from "../src/infra/metrics.js"
import { servicesReachable } from "./eventFixtures.js"
import { isolatedDeployment, type ServiceProcess, send, startService, stopAll } from "./serviceProcesses.js"
import { freePort, inv, TEST_SECRET, testToken, waitUntilAnswering } from "./utils.js"

const NGINX = "/usr/sbin/nginx"
const services = ["stock-updater", "stock-checker", "supplier-sync"] as const

const nginxInstalled = (() => {
  if (existsSync(NGINX)) return true
  if (process.env.CI === "true") {
    throw new Error(`${NGINX} is missing. CI=true, so this fails instead of skipping: .ci/run installs it.`)
  }
  console.warn(
    `SKIPPING the gateway test: ${NGINX} is missing (apt-get install nginx). With CI=true this is a failure.`
  )
  return false
})()
const reachable = nginxInstalled && (await servicesReachable("postgres", "rabbitmq", "redis"))

const shippedConfig = readFileSync(
  fileURLToPath(new URL("../../../deploy/gateway/nginx.conf", import.meta.url)),
  "utf8"
)

/** Replaces the one occurrence of `line`; a config that no longer has it fails the test here. */
const replaceOnce = (text: string, line: string, replacement: string) => {
  const parts = text.split(line)
  if (parts.length !== 2) throw new Error(`deploy/gateway/nginx.conf: expected "${line}" once`)
  return parts.join(replacement)
}

/**
 * The shipped config with loopback addresses for the services (named by service, on their default
 * ports, as compose and Kubernetes name them) and the gateway, and its files in `dir`.
 */
const renderConfig = (
  dir: string,
  gatewayPort: number,
  servicePorts: Record<(typeof services)[number], number>
) => {
  let config = shippedConfig
  for (const service of services) {
    config = replaceOnce(
      config,
      `server ${service}:${defaultPorts[service]};`,
      `server 127.0.0.1:${servicePorts[service]};`
    )
  }
  config = replaceOnce(config, "listen 8080;", `listen 127.0.0.1:${gatewayPort};`)
  config = replaceOnce(config, "error_log stderr warn;", `error_log ${dir}/error.log warn;`)
  config = replaceOnce(config, "access_log /dev/stdout invkit;", `access_log ${dir}/access.log invkit;`)
  const temporary = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
    .map((kind) => `  ${kind}_temp_path ${dir}/temp/${kind};`)
    .join("\n")
  return replaceOnce(config, "http {", `http {\n${temporary}`)
}

/** nginx in the foreground with the rendered config; as `nobody` when the tests run as root. */
const startNginx = async (
  dir: string,
  port: number
): Promise<{ child: ChildProcess; stop: () => Promise<void> }> => {
  mkdirSync(join(dir, "temp"))
  const asRoot = process.getuid?.() === 0
  if (asRoot)
    for (const path of [dir, join(dir, "temp"), join(dir, "nginx.conf")]) chownSync(path, 65534, 65534)
  const child = spawn(
    NGINX,
    [
      "-p",
      dir,
      "-c",
      join(dir, "nginx.conf"),
      "-e",
      join(dir, "error.log"),
      "-g",
      `pid ${dir}/nginx.pid; daemon off;`
    ],
    { stdio: ["ignore", "pipe", "pipe"], ...(asRoot ? { uid: 65534, gid: 65534 } : {}) }
  )
  let output = ""
  child.stderr?.on("data", (data) => {
    output += data
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  await waitUntilAnswering(`http://127.0.0.1:${port}/health`, 15_000, child).catch((error) => {
    child.kill("SIGKILL")
    const log = existsSync(join(dir, "error.log")) ? readFileSync(join(dir, "error.log"), "utf8") : ""
    throw new Error(`nginx did not start: ${(error as Error).message}\n${output}${log}`)
  })
  return {
    child,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGQUIT")
      await exited
    }
  }
}

/** A path of `template` (`/v1/stock/:sku/set`) with every parameter filled in. */
const samplePath = (template: string) => template.replace(/:[A-Za-z]+/g, "1")

describe.skipIf(!reachable)("one URL for the three services: nginx with deploy/gateway/nginx.conf", () => {
  const cleanups: Array<() => Promise<unknown>> = []
  const processes: Array<ServiceProcess> = []
  let gateway = ""
  let dir = ""

  beforeAll(async () => {
    const deployment = await isolatedDeployment("gateway")
    cleanups.unshift(deployment.remove)
    const environment = {
      ...deployment.environment,
      INV_JWT_SECRET: TEST_SECRET,
      INV_LOG_LEVEL: "warning",
      INV_SHUTDOWN_TIMEOUT: "5"
    }
    cleanups.unshift(() => stopAll(processes))
    // One after the other: the first migrates the fresh database.
    for (const service of services) processes.push(await startService(service, environment))
    const servicePorts = Object.fromEntries(
      processes.map((process) => [process.name, Number(new URL(process.base).port)])
    ) as Record<(typeof services)[number], number>

    dir = mkdtempSync(join(tmpdir(), "inv-gateway-"))
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }))
    const port = await freePort()
    writeFileSync(join(dir, "nginx.conf"), renderConfig(dir, port, servicePorts))
    const nginx = await startNginx(dir, port)
    cleanups.unshift(nginx.stop)
    gateway = `http://127.0.0.1:${port}`
  }, 120_000)

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  }, 60_000)

  it("sends every route of the contract to the service that serves it", async () => {
    const routes = routeTemplates(Api.InventoryApi).filter((route) => route.endpoint !== undefined)
    expect(routes.length).toBeGreaterThan(25)
    // Without a token: the service that has the route answers 401; any other would answer 404.
    const misrouted: Array<string> = []
    for (const route of routes) {
      const path = samplePath(route.template)
      const answer = await send(gateway, route.method, path, route.method === "GET" ? undefined : {})
      if (answer.status !== 401 || answer.body?._tag !== "Unauthorized") {
        misrouted.push(`${route.method} ${path}: ${answer.status} ${JSON.stringify(answer.body)}`)
      }
    }
    expect(misrouted).toEqual([])
    // What is not the API is answered by the gateway, in JSON too.
    const elsewhere = await send(gateway, "GET", "/nothing-here")
    expect(elsewhere.status).toBe(404)
    expect(elsewhere.body).toMatchObject({ _tag: "RouteNotFound" })
  })

  it("the SDK through the one URL: writes, reads of its own writes, typed errors, keys and the token's subject", async () => {
    const sku = `GW-${randomBytes(3).toString("hex").toUpperCase()}`
    const inventory = connect({ url: gateway, token: await testToken("admin", "gateway-sdk") })
    try {
      await inventory.products.add({ sku, name: "Through the gateway", reorderPoint: 3 })
      await inventory.stock.set(sku, 10)
      const key = `gw-${randomBytes(4).toString("hex")}`
      const first = await inventory.stock.adjust(sku, -4, { reason: "sale", idempotencyKey: key })
      expect(await inventory.stock.adjust(sku, -4, { reason: "sale", idempotencyKey: key })).toEqual(first)
      expect((await inventory.stock.level(sku)).onHand).toBe(6)
      await expect(inventory.stock.adjust(sku, -100)).rejects.toBeInstanceOf(InsufficientStock)
      await expect(inventory.products.get("GW-NOPE")).rejects.toBeInstanceOf(ProductNotFound)
      const history = await inventory.stock.history(sku)
      expect(history.items.map((movement) => [movement.delta, movement.actor])).toEqual([
        [-4, "gateway-sdk"],
        [10, "gateway-sdk"]
      ])
      expect((await inventory.products.list()).items.map((product) => product.sku)).toContain(sku)
      expect((await inventory.stock.overview()).products).toBeGreaterThanOrEqual(1)
    } finally {
      await inventory.close()
    }
  })

  it("the CLI through the one URL: the same commands and exit codes as against one server", async () => {
    const sku = `GWCLI-${randomBytes(3).toString("hex").toUpperCase()}`
    const admin = ["--server", gateway, "--token", await testToken("admin", "gateway-cli")]
    const operator = { INV_URL: gateway, INV_TOKEN: await testToken("operator", "gateway-operator") }
    const added = await inv([...admin, "product", "add", sku, "--name", "CLI via gateway"])
    expect(added.code, added.stderr).toBe(0)
    expect((await inv(["stock", "set", sku, "5"], operator)).code).toBe(0)
    const level = await inv(["--json", "stock", "get", sku], operator)
    expect(level.code, level.stderr).toBe(0)
    expect(JSON.parse(level.stdout)).toMatchObject({ sku, onHand: 5 })
    const refused = await inv(["stock", "adjust", sku, "-9"], operator)
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain("5 available")
    // An operator may not manage products: refused by supplier-sync, behind the gateway.
    expect((await inv(["product", "add", `${sku}-2`, "--name", "Not allowed"], operator)).code).toBe(7)
    expect((await inv(["stock", "get", "GWCLI-NOPE"], operator)).code).toBe(3)
    // Seven CLI processes one after another: room for a loaded machine.
  }, 90_000)

  it("passes request ids both ways, and answers a body over the limit as the server does", async () => {
    const token = await testToken("viewer", "gateway-ids")
    const auth = { authorization: `Bearer ${token}` }
    const given = `gw-${randomBytes(6).toString("hex")}`
    const answered = await send(gateway, "GET", "/v1/overview", undefined, { ...auth, "x-request-id": given })
    expect(answered.status).toBe(200)
    expect(answered.headers.get("x-request-id")).toBe(given)
    // Without one the gateway makes one: the service echoes it, the gateway's log has it.
    const made = (await send(gateway, "GET", "/v1/overview", undefined, auth)).headers.get("x-request-id")
    expect(made).toMatch(/^[0-9a-f]{32}$/)
    expect(readFileSync(join(dir, "access.log"), "utf8")).toContain(`request_id=${made}`)
    // The path goes on as it came: a "/" in a SKU stays encoded, one path parameter.
    const encoded = await send(gateway, "GET", "/v1/stock/GW%2FNOPE", undefined, auth)
    expect(encoded.body).toMatchObject({ _tag: "ProductNotFound", sku: "GW/NOPE" })

    const limit = 4 * 1024 * 1024
    const tooLarge = await fetch(`${gateway}/v1/stock/batch`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ changes: [], padding: "x".repeat(limit) })
    })
    expect(tooLarge.status).toBe(413)
    expect(await tooLarge.json()).toMatchObject({ _tag: "RequestTooLarge", limitBytes: limit })
  })
})
