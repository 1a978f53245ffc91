/**
 * `inv login`, `inv config`, `inv logout`, `--profile` and INV_PROFILE against a live
 * `inv-server all`, and what a token's role and subject mean for the commands. Server project only.
 */
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { runInv } from "./inv.js"
import { copyOfTemplateStore, type Store } from "./store.js"

let store: Store
let url: string
let admin: string
let viewer: string
/** This file's own XDG_CONFIG_HOME, so the profiles start from none. */
let configHome: string

beforeAll(async () => {
  store = await copyOfTemplateStore()
  if (store.server === undefined) throw new Error("profile.test.ts runs in the server project only")
  url = store.server.url
  admin = store.server.token
  viewer = await store.server.mintToken("viewer", "reader")
  configHome = mkdtempSync(join(inject("scratchDir"), "config-"))
  await store.json("product", "add", "P-1", "--name", "Profiled")
})

afterAll(() => store?.close())

/** `inv …args` with only the saved profiles (and `variables`) saying where. */
const inv = (args: ReadonlyArray<string>, variables: Record<string, string> = {}, input?: string) =>
  runInv(args, { XDG_CONFIG_HOME: configHome, ...variables }, input)

const configFile = () => join(configHome, "inv", "config.json")
const savedConfig = () => JSON.parse(readFileSync(configFile(), "utf8"))

// The steps build on each other, in order: refused login, login, use, second login, viewer, logout.
// Several `inv` processes per step: more time than one command needs on a busy machine.
describe("inv login, config, logout and --profile", { timeout: 90_000 }, () => {
  it("refuses a token the server refuses (exit 7) and saves nothing", async () => {
    const { code, stdout, stderr } = await inv(
      ["login", "--server", url, "--token-stdin"],
      {},
      "not-a-token\n"
    )
    expect(code).toBe(7)
    expect(stdout).toBe("")
    expect(stderr).toContain("error: ")
    expect(existsSync(configFile())).toBe(false)
  })

  it("saves a profile from --token-stdin, readable only by its owner", async () => {
    const { code, stderr } = await inv(["login", "--server", url, "--token-stdin"], {}, `${admin}\n`)
    expect(code).toBe(0)
    expect(stderr).toContain(
      `Logged in to ${url} as profile default (the default); saved in ${configFile()}.`
    )
    expect(statSync(configFile()).mode & 0o777).toBe(0o600)
    expect(statSync(join(configHome, "inv")).mode & 0o777).toBe(0o700)
    expect(savedConfig()).toEqual({
      defaultProfile: "default",
      profiles: { default: { server: url, token: admin } }
    })
  })

  it("works where the default profile points, and inv config says so without the token", async () => {
    expect(JSON.parse((await inv(["--json", "product", "get", "P-1"])).stdout)).toMatchObject({ sku: "P-1" })

    const shown = await inv(["config"])
    expect(shown.code).toBe(0)
    expect(shown.stdout).toContain(
      `store         server ${url}  (from profile default (the default profile))`
    )
    expect(shown.stdout).toContain(
      "token         set, not shown  (from profile default (the default profile))"
    )
    expect(shown.stdout).toContain(`config file   ${configFile()}`)
    expect(shown.stdout).toContain(`profiles      default (default) ${url}`)
    expect(shown.stdout).not.toContain(admin)

    const json = await inv(["--json", "config"])
    expect(json.code).toBe(0)
    expect(json.stdout).not.toContain(admin)
    expect(JSON.parse(json.stdout)).toEqual({
      store: { kind: "server", location: url, source: "profile default (the default profile)" },
      token: { set: true, source: "profile default (the default profile)" },
      caFile: null,
      profile: "default",
      configFile: configFile(),
      defaultProfile: "default",
      profiles: [{ name: "default", server: url }]
    })
  })

  it("selects a profile by --profile or INV_PROFILE; a second login with --default becomes the default", async () => {
    const second = await inv(["login", "--profile", "reader", "--server", url, "--token-stdin"], {}, viewer)
    expect(second.code).toBe(0)
    expect(second.stderr).toContain("as profile reader (use it with --profile reader)")
    expect(savedConfig().defaultProfile).toBe("default")

    const byFlag = JSON.parse((await inv(["--json", "--profile", "reader", "config"])).stdout)
    expect(byFlag).toMatchObject({
      profile: "reader",
      token: { set: true, source: "profile reader (--profile)" }
    })
    const byVariable = JSON.parse((await inv(["--json", "config"], { INV_PROFILE: "reader" })).stdout)
    expect(byVariable).toMatchObject({
      profile: "reader",
      token: { set: true, source: "profile reader (INV_PROFILE)" }
    })
    // The reader's token really is the one sent: its role may read but not write.
    expect((await inv(["--profile", "reader", "product", "get", "P-1"])).code).toBe(0)
    expect(
      (await inv(["product", "update", "P-1", "--reorder-point", "2"], { INV_PROFILE: "reader" })).code
    ).toBe(7)

    const unknown = await inv(["--profile", "nobody", "stock", "overview"])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('no profile "nobody"; the profiles are default, reader')

    const again = await inv(["login", "--profile", "reader", "--server", url, "--token", viewer, "--default"])
    expect(again.code).toBe(0)
    expect(again.stderr).toContain("as profile reader (the default)")
    expect(JSON.parse((await inv(["--json", "config"])).stdout)).toMatchObject({
      profile: "reader",
      defaultProfile: "reader",
      token: { source: "profile reader (the default profile)" }
    })
  })

  it("refuses a viewer's writes (exit 7) and changes nothing", async () => {
    const before = await store.json("stock", "overview")
    const writes = [
      ["product", "add", "V-1", "--name", "Viewer's"],
      ["stock", "set", "P-1", "5"],
      ["stock", "adjust", "P-1", "3", "--reason", "receipt"],
      ["location", "add", "V", "--name", "Viewer's"]
    ]
    for (const args of writes) {
      const { code, stdout, stderr } = await inv(["--profile", "reader", ...args])
      expect({ args, code, stdout }).toEqual({ args, code: 7, stdout: "" })
      expect(stderr).toContain("error: ")
    }
    const json = await inv(["--json", "--profile", "reader", "stock", "set", "P-1", "5"])
    expect(json.code).toBe(7)
    expect(JSON.parse(json.stderr).error).toMatchObject({ code: "Forbidden" })

    expect(await store.json("stock", "overview")).toEqual(before)
    expect((await store.inv("product", "get", "V-1")).code).toBe(3)
  })

  it("records the token's subject as the actor of a change, whatever --actor says", async () => {
    const operator = await store.server!.mintToken("operator", "alice")
    const adjusted = await inv([
      ...["--server", url, "--token", operator, "--json"],
      ...["stock", "adjust", "P-1", "4", "--reason", "receipt", "--actor", "mallory"]
    ])
    expect(adjusted.code).toBe(0)
    const [latest] = (await store.json("stock", "history", "P-1", "--limit", "1")).items
    expect(latest).toMatchObject({ delta: 4, reason: "receipt", actor: "alice" })
  })

  it("forgets a profile on logout, and with it the default", async () => {
    const { code, stderr } = await inv(["logout", "--profile", "reader"])
    expect(code).toBe(0)
    expect(stderr).toContain("Forgot profile reader and its token.")
    expect(savedConfig()).toEqual({ profiles: { default: { server: url, token: admin } } })
    expect(statSync(configFile()).mode & 0o777).toBe(0o600)

    const again = await inv(["logout", "--profile", "reader"])
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('no profile "reader" to log out of')
    expect((await inv(["--profile", "reader", "stock", "overview"])).code).toBe(2)
  })
})
