/**
 * The built `inv-server` as a child process: embedded `all` with nothing configured, a clean
 * SIGTERM, a bad setting, and /ready when the database does not answer.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { freePort, runBin, waitUntilAnswering } from "./utils.js"

const homes: Array<string> = []
afterAll(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true })
})

const SECRET = "a-test-secret-that-is-long-enough-for-hs256"

describe("inv-server", () => {
  it("all, with only a secret, serves a write and a read on the embedded store to a minted token and stops on SIGTERM", async () => {
    const home = mkdtempSync(join(tmpdir(), "inv-server-home-"))
    homes.push(home)
    const port = await freePort()
    const minted = runBin("token", { INV_JWT_SECRET: SECRET }, [
      "create",
      "--role",
      "admin",
      "--subject",
      "alice"
    ])
    expect(await minted.exited, minted.output().stderr).toBe(0)
    const token = minted.output().stdout.trim()
    expect(token.split(".")).toHaveLength(3)
    const server = runBin("all", {
      INV_HOME: home,
      PORT: String(port),
      HOST: "127.0.0.1",
      // A clean stop takes well under a second here; one CI run once took over 5 s (not reproduced).
      INV_SHUTDOWN_TIMEOUT: "15",
      INV_JWT_SECRET: SECRET
    })
    const base = `http://127.0.0.1:${port}`
    try {
      // A fresh data directory runs initdb first: seconds on a small machine.
      await waitUntilAnswering(`${base}/health`, 60_000, server.child)
      const post = (path: string, body: unknown) =>
        fetch(`${base}${path}`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
          body: JSON.stringify(body)
        })
      expect((await fetch(`${base}/v1/overview`)).status).toBe(401)
      expect((await post("/v1/products", { sku: "EMB-1", name: "Embedded" })).status).toBe(201)
      expect((await post("/v1/stock/EMB-1/set", { quantity: 12 })).status).toBe(200)
      // Concurrent requests share the one PGlite session through the socket, a unit of work at a time.
      const adjustments = await Promise.all(
        Array.from({ length: 8 }, () => post("/v1/stock/EMB-1/adjust", { delta: 1 }))
      )
      expect(adjustments.map((r) => r.status)).toEqual(Array(8).fill(200))
      const level = await (
        await fetch(`${base}/v1/stock/EMB-1`, { headers: { authorization: `Bearer ${token}` } })
      ).json()
      expect(level).toMatchObject({ sku: "EMB-1", onHand: 20 })
      // The token's subject is the actor of every change it made.
      const history = (await (
        await fetch(`${base}/v1/stock/EMB-1/history`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as { items: ReadonlyArray<{ actor: string }> }
      const actors = new Set(history.items.map((movement) => movement.actor))
      expect(actors).toEqual(new Set(["alice"]))
      expect((await fetch(`${base}/ready`)).status).toBe(200)
    } finally {
      const stoppedAt = Date.now()
      server.child.kill("SIGTERM")
      const code = await server.exited
      expect(code, server.output().stderr).toBe(0)
      expect(Date.now() - stoppedAt).toBeLessThan(15_000)
    }
    // Logs are JSON lines when stdout is not a terminal, and never carry a URL's password.
    const firstLine = server.output().stdout.split("\n")[0]!
    expect(JSON.parse(firstLine)).toMatchObject({ message: "starting all" })
  }, 90_000)

  it("refuses to start without a key unless INV_AUTH=off says so, and warns when it does", async () => {
    const refused = runBin("stock-checker", { PORT: "1" })
    expect(await refused.exited).toBe(2)
    expect(refused.output().stderr).toContain("INV_AUTH: requests must be authenticated: set INV_JWT_SECRET")

    const missingKey = runBin("stock-checker", { INV_JWT_PUBLIC_KEY_FILE: "/nonexistent/key.pem" })
    expect(await missingKey.exited).toBe(2)
    expect(missingKey.output().stderr).toContain("INV_JWT_PUBLIC_KEY_FILE: cannot use /nonexistent/key.pem")

    const short = runBin("stock-checker", { INV_JWT_SECRET: "too-short" })
    expect(await short.exited).toBe(2)
    expect(short.output().stderr).toContain("INV_JWT_SECRET: must be at least 32 characters")
    expect(short.output().stderr).not.toContain("too-short")

    const home = mkdtempSync(join(tmpdir(), "inv-server-home-"))
    homes.push(home)
    const port = await freePort()
    const open = runBin("all", { INV_HOME: home, PORT: String(port), HOST: "127.0.0.1", INV_AUTH: "off" })
    try {
      await waitUntilAnswering(`http://127.0.0.1:${port}/ready`, 60_000, open.child)
      expect((await fetch(`http://127.0.0.1:${port}/v1/overview`)).status).toBe(200)
    } finally {
      open.child.kill("SIGTERM")
      expect(await open.exited).toBe(0)
    }
    expect(open.output().stdout).toContain("INV_AUTH=off: requests are not authenticated")

    // INV_LOG_LEVEL=none writes nothing, its first line ("starting all") included.
    const quietPort = await freePort()
    const quiet = runBin("all", {
      INV_HOME: home,
      PORT: String(quietPort),
      HOST: "127.0.0.1",
      INV_AUTH: "off",
      INV_LOG_LEVEL: "none"
    })
    try {
      await waitUntilAnswering(`http://127.0.0.1:${quietPort}/ready`, 60_000, quiet.child)
    } finally {
      quiet.child.kill("SIGTERM")
      expect(await quiet.exited).toBe(0)
    }
    expect(quiet.output().stdout).toBe("")
  }, 90_000)

  it("token create refuses a bad role, ttl or subject, and needs a secret the server would take", async () => {
    const badRole = runBin("token", { INV_JWT_SECRET: SECRET }, ["create", "--role", "root"])
    expect(await badRole.exited).toBe(2)
    expect(badRole.output().stderr).toContain("--role: must be one of viewer, operator, admin")
    const badTtl = runBin("token", { INV_JWT_SECRET: SECRET }, [
      "create",
      "--role",
      "viewer",
      "--ttl",
      "forever"
    ])
    expect(await badTtl.exited).toBe(2)
    expect(badTtl.output().stderr).toContain("--ttl: must be like 90s, 15m, 1h or 7d")
    const noSecret = runBin("token", {}, ["create", "--role", "viewer"])
    expect(await noSecret.exited).toBe(2)
    expect(noSecret.output().stderr).toContain("set INV_JWT_SECRET")
    // A token the server could not use: a secret it would refuse to start with, a subject it
    // could not record as who made a change.
    const shortSecret = runBin("token", { INV_JWT_SECRET: "short" }, ["create", "--role", "viewer"])
    expect(await shortSecret.exited).toBe(2)
    expect(shortSecret.output().stderr).toContain("INV_JWT_SECRET must be at least 32 characters")
    expect(shortSecret.output().stdout).toBe("")
    for (const subject of ["eve\nadmin", "x".repeat(201)]) {
      const badSubject = runBin("token", { INV_JWT_SECRET: SECRET }, [
        "create",
        "--role",
        "viewer",
        "--subject",
        subject
      ])
      expect(await badSubject.exited).toBe(2)
      expect(badSubject.output().stderr).toContain("--subject: it is recorded as who made each change")
      expect(badSubject.output().stdout).toBe("")
    }
  })

  it("events redrive has --help; a missing consumer or broker URL is a usage error (exit 2)", async () => {
    for (const args of [["--help"], ["redrive", "--help"]]) {
      const help = runBin("events", {}, args)
      expect(await help.exited).toBe(0)
      expect(help.output().stdout).toContain("Usage: inv-server events redrive <consumer>")
      expect(help.output().stderr).toBe("")
    }
    const noConsumer = runBin("events", { INV_RABBITMQ_URL: "amqp://127.0.0.1:5672" }, ["redrive"])
    expect(await noConsumer.exited).toBe(2)
    expect(noConsumer.output().stderr).toContain("name one consumer, e.g. stock-updater")
    const badUrl = runBin("events", { INV_RABBITMQ_URL: "http://user:hunter2@mq" }, [
      "redrive",
      "stock-updater"
    ])
    expect(await badUrl.exited).toBe(2)
    expect(badUrl.output().stderr).toContain("INV_RABBITMQ_URL: must be a URL such as amqp://")
    expect(badUrl.output().stderr).not.toContain("hunter2")
    const noUrl = runBin("events", {}, ["redrive", "stock-updater"])
    expect(await noUrl.exited).toBe(2)
    expect(noUrl.output().stderr).toContain("INV_RABBITMQ_URL: set it to the broker's URL")
    const unknownCommand = runBin("events", {}, ["replay", "stock-updater"])
    expect(await unknownCommand.exited).toBe(2)
    expect(unknownCommand.output().stderr).toContain("the only command is `events redrive`")
  })

  it("prints help for --help after every command, starting nothing, with exit 0", async () => {
    const commands: ReadonlyArray<[string, ReadonlyArray<string>, string]> = [
      ["stock-updater", ["--help"], "Usage: inv-server <service>"],
      ["stock-checker", ["-h"], "Usage: inv-server <service>"],
      ["supplier-sync", ["--help"], "Usage: inv-server <service>"],
      ["all", ["--help"], "Usage: inv-server <service>"],
      ["token", ["--help"], "Usage: inv-server token create"],
      ["token", ["create", "--help"], "Usage: inv-server token create"],
      ["token", ["create", "--role", "admin", "-h"], "Usage: inv-server token create"],
      ["events", ["--help"], "Usage: inv-server events redrive <consumer>"],
      ["events", ["redrive", "--help"], "Usage: inv-server events redrive <consumer>"]
    ]
    // a PORT that cannot be bound: a service that starts instead of printing help fails
    const answers = await Promise.all(
      commands.map(async ([command, args, expected]) => {
        const run = runBin(command, { PORT: "abc" }, args)
        const code = await run.exited
        const { stdout, stderr } = run.output()
        return { what: [command, ...args].join(" "), code, ok: stdout.includes(expected), stderr }
      })
    )
    expect(answers.filter(({ code, ok, stderr }) => code !== 0 || !ok || stderr !== "")).toEqual([])
    // Nine processes at once: room for a loaded machine (each took ~3 s at a load of 20 on 2 cores).
  }, 90_000)

  it("refuses a bad setting with a message naming it, and a non-zero exit", async () => {
    const server = runBin("stock-checker", {
      PORT: "abc",
      INV_MAX_BODY_BYTES: "1e6",
      INV_CACHE_TTL: " 30",
      INV_DATABASE_URL: "mysql://root:hunter2@127.0.0.1/db",
      INV_DATABASE_PREPARE: "sometimes"
    })
    const code = await server.exited
    const { stderr } = server.output()
    expect(code).not.toBe(0)
    expect(stderr).toContain('PORT: must be a port number between 1 and 65535, written in digits, got "abc"')
    expect(stderr).toContain("INV_DATABASE_URL: must be a URL such as postgres://")
    // What Number would read is not how a setting is written.
    expect(stderr).toContain(
      'INV_MAX_BODY_BYTES: must be a number of bytes from 1024 to 1073741824, written in digits, got "1e6"'
    )
    expect(stderr).toContain(
      'INV_CACHE_TTL: must be a number of seconds from 0 to 86400, written in digits, got " 30"'
    )
    expect(stderr).toMatch(
      /^ {2}INV_DATABASE_PREPARE: must be true or false \(false for a connection pooler that drops prepared statements\), got "sometimes"$/m
    )
    expect(stderr).not.toContain("hunter2")
    expect(stderr).not.toMatch(/\n\s+at /)
  })

  it("refuses an unknown service with usage", async () => {
    const server = runBin("stock-teller", {})
    expect(await server.exited).toBe(2)
    expect(server.output().stderr).toContain('unknown service "stock-teller"')
  })

  it("answers /ready 503 naming the database while PostgreSQL does not answer, and /health 200", async () => {
    const [port, closedPort] = await Promise.all([freePort(), freePort()])
    const server = runBin("stock-checker", {
      PORT: String(port),
      HOST: "127.0.0.1",
      INV_DATABASE_URL: `postgres://postgres:secret-password@127.0.0.1:${closedPort}/nothing`,
      INV_AUTH: "off"
    })
    try {
      await waitUntilAnswering(`http://127.0.0.1:${port}/health`, 20_000, server.child)
      const ready = await fetch(`http://127.0.0.1:${port}/ready`)
      expect(ready.status).toBe(503)
      expect(await ready.json()).toMatchObject({ status: "not ready", failing: ["database"] })
      const read = await fetch(`http://127.0.0.1:${port}/v1/overview`)
      expect(read.status).toBe(503)
      expect(await read.json()).toMatchObject({ _tag: "StoreError" })
    } finally {
      server.child.kill("SIGTERM")
      expect(await server.exited).toBe(0)
    }
    expect(server.output().stdout + server.output().stderr).not.toContain("secret-password")
  })
})
