/**
 * The CLI's remote mode: the built `inv` with `--server` (or INV_URL) against `inv-server all` in
 * this process, on a fresh PostgreSQL database — the same commands, output and exit codes as on
 * a local store.
 */
import { execFile } from "node:child_process"
import { existsSync } from "node:fs"
import { fileURLToPath } from "node:url"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as AllMain from "../src/all/main.js"
import {
  freePort,
  freshDatabase,
  jwtAuth,
  postgresReachable,
  startInProcess,
  testConfig,
  testToken
} from "./utils.js"

const reachable = await postgresReachable()
const INV = fileURLToPath(new URL("../../cli/dist/bin.js", import.meta.url))

const inv = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [INV, ...args],
      { env: { ...process.env, ...env, INV_DATABASE_URL: "", INV_HOME: "" } },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr })
    )
  })

describe.skipIf(!reachable)("inv against a server (--server, INV_URL)", () => {
  let url = ""
  let token = ""
  const cleanups: Array<() => Promise<unknown>> = []

  beforeAll(async () => {
    if (!existsSync(INV)) throw new Error(`${INV} is missing: run pnpm build first`)
    const database = await freshDatabase()
    cleanups.push(database.drop)
    const port = await freePort()
    const server = await startInProcess(
      AllMain.main(
        testConfig({ port, databaseUrl: Option.some(Redacted.make(database.url)), auth: jwtAuth })
      ),
      port
    )
    cleanups.unshift(server.stop)
    url = server.baseUrl
    token = await testToken("operator", "cli-remote")
  })

  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup()
  })

  it("runs product and stock commands remotely, with the local exit codes", async () => {
    const remote = ["--server", url, "--token", token]
    const admin = ["--server", url, "--token", await testToken("admin", "cli-admin")]
    expect(
      (await inv([...admin, "product", "add", "R-1", "--name", "Remote widget", "--reorder-point", "5"]))
        .code
    ).toBe(0)
    expect((await inv([...remote, "stock", "set", "R-1", "10"])).code).toBe(0)
    expect((await inv([...remote, "stock", "adjust", "R-1", "-3", "--reason", "sale"])).code).toBe(0)

    const level = await inv(["--json", "stock", "get", "R-1"], { INV_URL: url, INV_TOKEN: token })
    expect(level.code).toBe(0)
    expect(JSON.parse(level.stdout)).toMatchObject({ sku: "R-1", onHand: 7 })

    const refused = await inv([...remote, "stock", "adjust", "R-1", "-100"])
    expect(refused.code).toBe(4)
    expect(refused.stderr).toContain("7 available")

    const unknown = await inv([...remote, "stock", "get", "NOPE"])
    expect(unknown.code).toBe(3)

    const history = await inv([...remote, "--json", "stock", "history", "R-1"])
    const movements = JSON.parse(history.stdout).items as ReadonlyArray<{ delta: number; actor: string }>
    expect(movements.map((m) => m.delta)).toEqual([-3, 10])
    // The server records the token's subject, whatever the local user is called.
    expect(movements.map((m) => m.actor)).toEqual(["cli-remote", "cli-remote"])

    // An operator may not manage products: exit 7, nothing changed.
    const forbidden = await inv([...remote, "product", "add", "R-2", "--name", "Not allowed"])
    expect(forbidden.code).toBe(7)
    expect(forbidden.stderr).toContain("needs the admin role")
    expect((await inv([...admin, "product", "get", "R-2"])).code).toBe(3)

    // A token the server did not sign: exit 7, with what to do.
    const refusedToken = await inv(["--server", url, "--token", "not-a-token", "stock", "get", "R-1"])
    expect(refusedToken.code).toBe(7)
    expect(refusedToken.stderr).toContain("Not authenticated")
  }, 60_000)
})
