/**
 * Test servers: a fresh PostgreSQL database per test file, a free loopback port, the server
 * started in-process, and the built bin as a child process.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createTestDatabase } from "../../sdk/test/postgres.js"
import { type ServerConfig, type Service, serverConfig } from "../src/config.js"
import { mintToken, type Role } from "../src/http/auth.js"

// The SDK's test helpers for the PostgreSQL test server, shared rather than copied.
export { POSTGRES_URL, postgresReachable } from "../../sdk/test/postgres.js"

/** A fresh database for one test file: its URL, and a drop for afterAll. */
export const freshDatabase = () => createTestDatabase("inv_server_test")

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

/** A shared secret for tests' HS256 tokens (at least 32 characters, as the server requires). */
export const TEST_SECRET = "invkit-test-secret-0123456789-abcdefghij"

/** Verifies HS256 tokens signed with TEST_SECRET; mint them with `testToken`. */
export const jwtAuth: ServerConfig["auth"] = {
  mode: "jwt",
  key: { kind: "secret", algorithm: "HS256", secret: Redacted.make(TEST_SECRET) },
  audience: Option.none(),
  issuer: Option.none(),
  clockToleranceSeconds: 30
}

/** A token for `jwtAuth`, valid for an hour. */
export const testToken = (role: Role, subject = `test-${role}`) =>
  mintToken({ secret: Redacted.make(TEST_SECRET), subject, role, ttlSeconds: 3600 })

/** `service`'s configuration read from `environment` alone (auth off unless it says otherwise). */
export const readConfig = (service: Service, environment: Record<string, string>) =>
  Effect.runSync(
    Effect.either(
      Effect.withConfigProvider(
        serverConfig(service),
        ConfigProvider.fromMap(new Map(Object.entries({ INV_AUTH: "off", ...environment })))
      )
    )
  )

export const testConfig = (overrides: Partial<ServerConfig>): ServerConfig => ({
  port: 0,
  host: "127.0.0.1",
  databaseUrl: Option.none(),
  home: "",
  rabbitmqUrl: Option.none(),
  redisUrl: Option.none(),
  redisPrefix: Option.none(),
  cacheTtlSeconds: 30,
  shutdownTimeoutSeconds: 5,
  logLevel: LogLevel.Warning,
  databaseReadUrl: Option.none(),
  auth: { mode: "off" },
  tls: Option.none(),
  limits: { maxBodyBytes: 4 * 1024 * 1024, ratePerSecond: 0 },
  eventRetryTimeoutSeconds: 600,
  // The tests' suppliers are small servers on loopback, their feed files in temporary directories.
  feeds: { files: "anywhere", privateAddresses: true },
  ...overrides
})

/** Runs a service layer in this process until `stop()`. */
export const startInProcess = async (layer: Layer.Layer<never, unknown>, port: number) => {
  const fiber = Effect.runFork(Layer.launch(layer).pipe(Effect.withLogSpan("server")))
  await waitUntilAnswering(`http://127.0.0.1:${port}/health`, 30_000)
  return { baseUrl: `http://127.0.0.1:${port}`, stop: () => Effect.runPromise(Fiber.interrupt(fiber)) }
}

/**
 * `inv-server all` in this process on a fresh PostgreSQL database, with `overrides` on the test
 * configuration; `stop` stops it and drops the database.
 */
export const startAllOnFreshDatabase = async (overrides: Partial<ServerConfig> = {}) => {
  const { main } = await import("../src/all/main.js")
  const database = await freshDatabase()
  const port = await freePort()
  const server = await startInProcess(
    main(testConfig({ port, databaseUrl: Option.some(Redacted.make(database.url)), ...overrides })),
    port
  ).catch(async (error) => {
    await database.drop()
    throw error
  })
  return {
    baseUrl: server.baseUrl,
    databaseUrl: database.url,
    stop: async () => {
      await server.stop()
      await database.drop()
    }
  }
}

export const waitUntilAnswering = async (url: string, timeoutMs: number, child?: ChildProcess) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`)
    try {
      const response = await fetch(url)
      if (response.ok) return
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`)
}

const bin = fileURLToPath(new URL("../dist/bin.js", import.meta.url))

/** The built `inv-server` as a child process; its output collected for assertions. */
export const runBin = (
  service: Service | string,
  env: Record<string, string>,
  args: ReadonlyArray<string> = []
) => {
  const child = spawn(process.execPath, [bin, service, ...args], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let stdout = ""
  let stderr = ""
  child.stdout.on("data", (data) => {
    stdout += data
  })
  child.stderr.on("data", (data) => {
    stderr += data
  })
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
  return { child, exited, output: () => ({ stdout, stderr }) }
}

/** The built `inv` CLI. */
export const INV = fileURLToPath(new URL("../../cli/dist/bin.js", import.meta.url))

/** The built `inv` with `args`, on no local store: its exit code and output. */
export const inv = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [INV, ...args],
      { env: { ...process.env, ...env, INV_DATABASE_URL: "", INV_HOME: "" } },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    )
  })

export { Redacted }
