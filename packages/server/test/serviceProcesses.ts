/**
 * What the multi-process tests (tracing, scale-out, read replica) share: the built `inv-server`
 * as child processes on one fresh database, a RabbitMQ virtual host of their own (the queues
 * `invkit.<service>` have fixed names, so another test's processes could otherwise take their
 * events) and a Redis database of their own, a small HTTP client and polling.
 */
import { execFile } from "node:child_process"
import { randomBytes, randomInt } from "node:crypto"
import { promisify } from "node:util"
import { RABBITMQ_URL, REDIS_URL } from "./eventFixtures.js"
import { freePort, freshDatabase, runBin, waitUntilAnswering } from "./utils.js"

const run = promisify(execFile)

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it answers a value; fails naming `what` after `timeoutMs`. */
export const eventually = async <A>(
  what: string,
  check: () => Promise<A | undefined>,
  timeoutMs: number,
  intervalMs = 50
): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  while (true) {
    const answer = await check()
    if (answer !== undefined) return answer
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`)
    await sleep(intervalMs)
  }
}

/** A RabbitMQ virtual host for this run, deleted afterwards. */
export const isolatedBroker = async (
  label: string
): Promise<{ url: string; remove: () => Promise<unknown> }> => {
  const vhost = `invkit-${label}-${randomBytes(4).toString("hex")}`
  const user = decodeURIComponent(new URL(RABBITMQ_URL).username || "guest")
  await run("rabbitmqctl", ["add_vhost", vhost], { timeout: 30_000 })
  await run("rabbitmqctl", ["set_permissions", "-p", vhost, user, ".*", ".*", ".*"], { timeout: 30_000 })
  const url = new URL(RABBITMQ_URL)
  url.pathname = `/${encodeURIComponent(vhost)}`
  return {
    url: url.toString(),
    remove: () => run("rabbitmqctl", ["delete_vhost", vhost], { timeout: 30_000 }).catch(() => undefined)
  }
}

/** A Redis database (1 to 15) apart from the other tests' keys in database 0, and a key prefix of its own. */
export const isolatedRedisUrl = () => {
  const url = new URL(REDIS_URL)
  url.pathname = `/${randomInt(1, 16)}`
  return url.toString()
}

/**
 * What the processes of one test deployment share: a fresh database, a RabbitMQ virtual host and
 * a Redis database of their own, as the variables the services read; `remove` drops them.
 */
export const isolatedDeployment = async (label: string) => {
  const database = await freshDatabase()
  const broker = await isolatedBroker(label)
  return {
    environment: {
      INV_DATABASE_URL: database.url,
      INV_RABBITMQ_URL: broker.url,
      INV_REDIS_URL: isolatedRedisUrl()
    },
    remove: async () => {
      await broker.remove()
      await database.drop()
    }
  }
}

export type ServiceProcess = ReturnType<typeof runBin> & { readonly base: string; readonly name: string }

/**
 * Starts `service` with `env` on a free loopback port; answers once /health answers. The caller
 * stops it with `stopAll` (SIGTERM, then SIGKILL).
 */
export const startService = async (
  service: string,
  env: Record<string, string>,
  name = service
): Promise<ServiceProcess> => {
  const port = await freePort()
  const process = runBin(service, { PORT: String(port), HOST: "127.0.0.1", ...env })
  const base = `http://127.0.0.1:${port}`
  await waitUntilAnswering(`${base}/health`, 30_000, process.child).catch((error) => {
    process.child.kill("SIGKILL")
    throw new Error(
      `${name}: ${(error as Error).message}\n${process.output().stderr}${process.output().stdout}`
    )
  })
  return { ...process, base, name }
}

/** SIGTERM each, then SIGKILL whatever did not exit within 10 s. */
export const stopAll = async (processes: ReadonlyArray<ServiceProcess>) => {
  await Promise.all(
    processes.map(async ({ child, exited }) => {
      if (child.exitCode !== null) return
      child.kill("SIGTERM")
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000)
      await exited
      clearTimeout(timer)
    })
  )
}

export interface Answer {
  readonly status: number
  readonly headers: { readonly get: (name: string) => string | null }
  readonly body: any
}

/** One JSON request to a service; the answer's status, headers and body. */
export const send = async (
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {}
): Promise<Answer> => {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    body: text === "" ? undefined : JSON.parse(text)
  }
}

/** The value of one sample line of Prometheus text (`name{labels} value`), or undefined. */
export const sampleValue = (metrics: string, name: string, labels: Record<string, string> = {}) => {
  for (const line of metrics.split("\n")) {
    if (line.startsWith("#")) continue
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (.+)$/.exec(line)
    if (!match || match[1] !== name) continue
    const lineLabels = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]])
    )
    if (Object.entries(labels).every(([key, value]) => lineLabels[key] === value)) return Number(match[3])
  }
  return undefined
}
