/**
 * Test servers: a fresh PostgreSQL database per test file, a free loopback port, the server
 * started in-process, and the built bin as a child process.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import pg from "pg"
import type { ServerConfig, Service } from "../src/config.js"
import { mintToken, type Role } from "../src/http/auth.js"

export const POSTGRES_URL = process.env.INV_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test"

const withAdminClient = async <A>(use: (client: pg.Client) => Promise<A>): Promise<A> => {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return await use(client)
  } finally {
    await client.end()
  }
}

/**
 * Whether PostgreSQL answers. With CI=true an unreachable server fails the run; elsewhere the
 * PostgreSQL tests are skipped, and the skip is printed.
 */
export const postgresReachable = async (): Promise<boolean> => {
  try {
    await withAdminClient((client) => client.query("select 1"))
    return true
  } catch (error) {
    const problem = `PostgreSQL at ${POSTGRES_URL} is not reachable (${(error as Error).message})`
    if (process.env.CI === "true") throw new Error(`${problem}. CI=true, so this fails instead of skipping.`)
    console.warn(`SKIPPING the PostgreSQL tests: ${problem}. With CI=true this is a failure.`)
    return false
  }
}

/** A fresh database for one test file: its URL, and a drop for afterAll. */
export const freshDatabase = async () => {
  const database = `inv_server_test_${randomBytes(6).toString("hex")}`
  await withAdminClient((client) => client.query(`create database ${database}`))
  const url = new URL(POSTGRES_URL)
  url.pathname = `/${database}`
  return {
    url: url.toString(),
    drop: () => withAdminClient((client) => client.query(`drop database if exists ${database} with (force)`))
  }
}

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

export const testConfig = (overrides: Partial<ServerConfig>): ServerConfig => ({
  port: 0,
  host: "127.0.0.1",
  databaseUrl: Option.none(),
  home: "",
  rabbitmqUrl: Option.none(),
  redisUrl: Option.none(),
  cacheTtlSeconds: 30,
  shutdownTimeoutSeconds: 5,
  logLevel: LogLevel.Warning,
  databaseReadUrl: Option.none(),
  auth: { mode: "off" },
  tls: Option.none(),
  limits: { maxBodyBytes: 4 * 1024 * 1024, ratePerSecond: 0 },
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

export { Redacted }
