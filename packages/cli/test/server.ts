/**
 * The server target: the built `inv-server all` as a child process on a copy of the template
 * store, and tokens minted by `inv-server token create`, as an operator would do it.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { fileURLToPath } from "node:url"

export const serverBinPath = fileURLToPath(new URL("../../server/dist/bin.js", import.meta.url))

/** HS256 needs at least 32 bytes of secret. */
const JWT_SECRET = "inv-cli-test-secret-0123456789abcdef"

export type Role = "viewer" | "operator" | "admin"

export interface TestServer {
  readonly url: string
  /** An admin token whose subject is `cli-test`. */
  readonly token: string
  readonly mintToken: (role: Role, subject: string) => Promise<string>
  /** SIGTERM, then waits for the process to exit. */
  readonly stop: () => Promise<void>
}

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })

/** The server's own environment only: nothing of the person running the tests leaks in. */
const serverEnvironment = (variables: Record<string, string>) => ({
  PATH: process.env.PATH ?? "",
  INV_JWT_SECRET: JWT_SECRET,
  // The tests' suppliers serve their catalogs on loopback, or from files in temporary directories.
  INV_FEED_ALLOW_PRIVATE: "true",
  INV_FEED_DIR: tmpdir(),
  ...variables
})

export const mintToken = (role: Role, subject: string): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [serverBinPath, "token", "create", "--role", role, "--subject", subject],
      { env: serverEnvironment({}) },
      (error, stdout, stderr) =>
        error === null ? resolve(stdout.trim()) : reject(new Error(`token create failed: ${stderr}`))
    )
  })

const waitUntilAnswering = async (url: string, child: ChildProcess, output: () => string) => {
  const deadline = Date.now() + 45_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`inv-server exited with ${child.exitCode}: ${output()}`)
    try {
      if ((await fetch(url)).ok) return
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`${url} did not answer within 45 s: ${output()}`)
}

/** `inv-server all` on the embedded store in `dataDir`, on a free loopback port. */
export const startServer = async (dataDir: string): Promise<TestServer> => {
  if (!existsSync(serverBinPath)) {
    throw new Error(`${serverBinPath} is missing: build first (pnpm build)`)
  }
  const port = await freePort()
  const child = spawn(process.execPath, [serverBinPath, "all"], {
    env: serverEnvironment({
      INV_HOME: dataDir,
      PORT: String(port),
      HOST: "127.0.0.1",
      INV_RATE_LIMIT: "0",
      INV_LOG_LEVEL: "Warning"
    }),
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout?.on("data", (chunk) => {
    output += chunk
  })
  child.stderr?.on("data", (chunk) => {
    output += chunk
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const url = `http://127.0.0.1:${port}`
  try {
    await waitUntilAnswering(`${url}/health`, child, () => output)
  } catch (error) {
    child.kill("SIGKILL")
    throw error
  }
  return {
    url,
    token: await mintToken("admin", "cli-test"),
    mintToken,
    stop: async () => {
      if (child.exitCode === null) child.kill("SIGTERM")
      await exited
    }
  }
}
