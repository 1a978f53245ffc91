/** Where `openInventory` works: options first, then the environment, then the XDG default. */
import { join } from "node:path"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { type OpenOptions, resolveTarget } from "../src/Inventory.js"

const targetWith = (environment: Record<string, string>, options: OpenOptions = {}, names = {}) =>
  Effect.runSync(
    resolveTarget(options, names).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(environment))))
    )
  )

const server = { INV_URL: "https://inv.example", INV_TOKEN: "secret", INV_CA_FILE: "ca.pem" }

describe("Inventory.resolveTarget", () => {
  it("takes a server from the options, without the environment's token, named as the caller names it", () => {
    expect(
      targetWith(server, { url: "https://other.example", dataDir: "here" }, { url: "--server" })
    ).toEqual({
      _tag: "Remote",
      url: { value: "https://other.example", source: "--server" },
      token: undefined,
      caFile: { value: "ca.pem", source: "INV_CA_FILE" }
    })
  })

  it("prefers a local store in the options to the environment's server", () => {
    expect(targetWith(server, { databaseUrl: "postgres://db/inv", dataDir: "here" })).toEqual({
      _tag: "Postgres",
      url: { value: "postgres://db/inv", source: "databaseUrl" }
    })
    expect(targetWith(server, { dataDir: "here" })).toEqual({
      _tag: "Embedded",
      dataDir: { value: "here", source: "dataDir" }
    })
    expect(targetWith(server, { inMemory: true })).toEqual({ _tag: "Embedded", dataDir: undefined })
  })

  it("then takes INV_URL with its token, INV_DATABASE_URL, INV_HOME, in that order", () => {
    const all = { ...server, INV_DATABASE_URL: "postgres://db/inv", INV_HOME: "home" }
    expect(targetWith(all)).toEqual({
      _tag: "Remote",
      url: { value: "https://inv.example", source: "INV_URL" },
      token: { value: "secret", source: "INV_TOKEN" },
      caFile: { value: "ca.pem", source: "INV_CA_FILE" }
    })
    expect(targetWith(all, { token: "mine" }, { token: "--token" })).toMatchObject({
      token: { value: "mine", source: "--token" }
    })
    expect(targetWith({ ...all, INV_URL: "" })).toEqual({
      _tag: "Postgres",
      url: { value: "postgres://db/inv", source: "INV_DATABASE_URL" }
    })
    expect(targetWith({ INV_HOME: "home" })).toEqual({
      _tag: "Embedded",
      dataDir: { value: "home", source: "INV_HOME" }
    })
  })

  it("last, the embedded store in the XDG data directory", () => {
    expect(targetWith({ XDG_DATA_HOME: "xdg" })).toEqual({
      _tag: "Embedded",
      dataDir: { value: join("xdg", "inv"), source: "default" }
    })
  })
})
