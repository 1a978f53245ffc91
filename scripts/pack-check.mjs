#!/usr/bin/env node
/**
 * The packages as a stranger gets them: each of sdk, cli and server packed the way it will be
 * published (`pnpm pack`, which writes real versions over `workspace:` and `catalog:`), then
 * installed with npm into an empty directory, from the tarballs and the registry, and used there:
 * @arethetypeswrong/cli on the SDK's tarball; an ESM program, a CommonJS one and a strict
 * TypeScript program against the SDK; `inv --version`,
 * `inv stock set` and `inv stock get` from the installed CLI on the embedded store; `inv-server
 * token create` from the installed server.
 *
 * Fails on a tarball without README.md or LICENSE, on a `workspace:` or `catalog:` specifier left
 * in a tarball's package.json, on an install script (or a binding.gyp, which npm builds without
 * one) anywhere in the SDK's or the CLI's install, and on the peers of @effect/platform-node in the
 * SDK's install. Prints what the SDK's install adds (packages, MB), as docs/sdk.md reports it.
 *
 * Run it after `pnpm build`, through pnpm (`pnpm test:pack`): it packs with the pnpm running it.
 */
import { execFileSync } from "node:child_process"
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"

const root = fileURLToPath(new URL("..", import.meta.url))
const packages = ["sdk", "cli", "server"]

/**
 * Install scripts a package may bring, each with the reason it is accepted. Only as an optional
 * dependency: npm carries on when an optional package's script fails.
 */
const acceptedScripts = {
  // msgpackr's optional native speed-up; @effect/platform requires msgpackr, the SDK never uses it.
  "msgpackr-extract": "optional"
}
/** The server keeps @effect/platform-node (its HTTP server and runtime), which requires this. */
const serverScripts = { ...acceptedScripts, "@parcel/watcher": "required by @effect/platform-node" }
/** What the SDK no longer installs (issue 16): @effect/platform-node and the peers it requires. */
const notInSdk = [
  "@effect/platform-node",
  "@effect/cluster",
  "@effect/rpc",
  "@effect/workflow",
  "@parcel/watcher"
]

const failures = []
const fail = (message) => {
  failures.push(message)
  console.error(`FAIL ${message}`)
}
const started = Date.now()
const step = (message) =>
  console.error(`pack-check [${Math.round((Date.now() - started) / 1000)} s]: ${message}`)

const run = (command, args, options = {}) =>
  execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options })

/** The pnpm running this script (so the same version packs), else the pinned one through npx. */
const pnpm = (args, options) => {
  const execPath = process.env.npm_execpath ?? ""
  return /pnpm/.test(execPath)
    ? run(process.execPath, [execPath, ...args], options)
    : run("npx", ["-y", "pnpm@10.34.9", ...args], options)
}

/**
 * npm as a user runs it: without the npm_config_* settings pnpm exports to the scripts it runs
 * (they would steer npm), but with the user's own registry, cache and .npmrc.
 */
const keptNpmSettings = new Set(["npm_config_registry", "npm_config_cache", "npm_config_userconfig"])
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(
    ([name]) => !/^npm_(config|package|lifecycle)_/i.test(name) || keptNpmSettings.has(name.toLowerCase())
  )
)
const npmInstall = (dir, specs) =>
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...specs], { cwd: dir, env: npmEnv })

const emptyApp = (dir, name) => {
  const app = join(dir, name)
  mkdirSync(app)
  writeFileSync(join(app, "package.json"), `${JSON.stringify({ name, private: true, type: "module" })}\n`)
  return app
}

/** Every installed package (nested ones too): its directory and package.json. */
const installed = (nodeModules) => {
  const found = []
  const visit = (dir) => {
    if (!existsSync(dir)) return
    for (const entry of readdirSync(dir)) {
      if (entry.startsWith(".")) continue
      const path = join(dir, entry)
      if (lstatSync(path).isSymbolicLink()) continue
      if (entry.startsWith("@")) {
        visit(path)
        continue
      }
      const manifest = join(path, "package.json")
      if (!existsSync(manifest)) continue
      found.push({ dir: path, manifest: JSON.parse(readFileSync(manifest, "utf8")) })
      visit(join(path, "node_modules"))
    }
  }
  visit(nodeModules)
  return found
}

/** The lockfile npm wrote says which installed packages are optional. */
const optionalPaths = (app) => {
  const lock = JSON.parse(readFileSync(join(app, "package-lock.json"), "utf8"))
  return new Set(
    Object.entries(lock.packages ?? {})
      .filter(([, entry]) => entry.optional)
      .map(([path]) => join(app, path))
  )
}

const checkInstallScripts = (app, accepted) => {
  const optional = optionalPaths(app)
  const withScripts = installed(join(app, "node_modules")).flatMap(({ dir, manifest }) => {
    const scripts = ["preinstall", "install", "postinstall"].filter((name) => manifest.scripts?.[name])
    if (scripts.length === 0 && existsSync(join(dir, "binding.gyp"))) scripts.push("binding.gyp")
    return scripts.length === 0 ? [] : [{ dir, name: manifest.name, scripts }]
  })
  for (const { dir, name, scripts } of withScripts) {
    const reason = accepted[name]
    if (reason === undefined) fail(`${name} (${dir}) has an install script: ${scripts.join(", ")}`)
    else if (reason === "optional" && !optional.has(dir))
      fail(`${name} has an install script and is no longer an optional dependency`)
    else step(`install script of ${name} accepted (${reason})`)
  }
}

const sizeOf = (dir) => {
  let bytes = 0
  const visit = (path) => {
    const stat = lstatSync(path)
    if (stat.isDirectory()) for (const entry of readdirSync(path)) visit(join(path, entry))
    else bytes += stat.size
  }
  visit(dir)
  return bytes
}

/** The lowest Node.js an `engines.node` range allows, as [major, minor, patch] (">=20.18.1", ">= 16.x", "^20.19 || >=22"). */
const floorOf = (range) => {
  const floors = range.split("||").map((part) => {
    const [major = 0, minor = 0, patch = 0] = (/(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(part) ?? [])
      .slice(1)
      .map((n) => Number(n ?? 0))
    return [major, minor, patch]
  })
  return floors.sort(compareVersions)[0]
}
const compareVersions = (a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]

/** Our `engines.node` must allow no Node.js that an installed dependency refuses. */
const checkEngines = (app, ours, name) => {
  const floor = floorOf(ours)
  for (const { manifest } of installed(join(app, "node_modules"))) {
    const theirs = manifest.engines?.node
    if (typeof theirs !== "string" || manifest.name?.startsWith("@invkit/")) continue
    if (compareVersions(floorOf(theirs), floor) > 0)
      fail(`${name} says engines.node "${ours}", but ${manifest.name} needs "${theirs}"`)
  }
}

const specifierFields = ["dependencies", "peerDependencies", "optionalDependencies", "devDependencies"]

const checkTarball = (name, tarball) => {
  const entries = run("tar", ["-tzf", tarball]).split("\n")
  for (const file of ["package/package.json", "package/README.md", "package/LICENSE"])
    if (!entries.includes(file)) fail(`${name}: the tarball has no ${file.slice("package/".length)}`)
  const manifest = JSON.parse(run("tar", ["-xzOf", tarball, "package/package.json"]))
  for (const field of specifierFields)
    for (const [dependency, spec] of Object.entries(manifest[field] ?? {}))
      if (/^(workspace|catalog):/.test(spec)) fail(`${name}: ${field}.${dependency} is still "${spec}"`)
  for (const field of ["description", "keywords", "repository", "homepage", "bugs", "license", "engines"])
    if (manifest[field] === undefined) fail(`${name}: package.json has no ${field}`)
  return manifest.engines?.node ?? "*"
}

const work = mkdtempSync(join(tmpdir(), "invkit-pack-"))
try {
  const tarballs = join(work, "tarballs")
  mkdirSync(tarballs)
  const tarball = {}
  const engines = {}
  for (const name of packages) {
    const dir = join(root, "packages", name)
    if (!existsSync(join(dir, "dist")))
      throw new Error(`packages/${name}/dist is missing: run pnpm build first`)
    pnpm(["pack", "--pack-destination", tarballs], { cwd: dir })
    const file = readdirSync(tarballs).find((entry) => entry.startsWith(`invkit-${name}-`))
    if (file === undefined) throw new Error(`pnpm pack wrote no tarball for packages/${name}`)
    tarball[name] = join(tarballs, file)
    engines[name] = checkTarball(name, tarball[name])
  }
  step(`packed ${Object.values(tarball).length} tarballs`)

  // Types for every entry and condition of the SDK, as @arethetypeswrong/cli sees them; the
  // esm-only profile leaves out node10 and require() from CommonJS, which an ESM-only package
  // does not offer (docs/sdk.md). The CLI and the server export nothing to type.
  try {
    run(
      "npx",
      ["-y", "@arethetypeswrong/cli@0.18.5", "--profile", "esm-only", "--format", "ascii", tarball.sdk],
      {
        env: npmEnv
      }
    )
  } catch (error) {
    fail(`@arethetypeswrong/cli finds problems in the SDK's types:\n${error.stdout}${error.stderr}`)
  }
  step("the SDK's types pass @arethetypeswrong/cli (esm-only)")

  // --- the SDK alone, as an app installs it --------------------------------------------------
  const sdkApp = emptyApp(work, "sdk-app")
  npmInstall(sdkApp, [tarball.sdk])
  step("installed the SDK")
  const sdkInstall = installed(join(sdkApp, "node_modules"))
  const megabytes = (sizeOf(join(sdkApp, "node_modules")) / 1e6).toFixed(1)
  console.log(
    JSON.stringify({ check: "sdk-install", packages: sdkInstall.length, megabytes: Number(megabytes) })
  )
  for (const unwanted of notInSdk)
    if (sdkInstall.some(({ manifest }) => manifest.name === unwanted))
      fail(`the SDK's install has ${unwanted}`)
  checkInstallScripts(sdkApp, acceptedScripts)
  checkEngines(sdkApp, engines.sdk, "@invkit/sdk")

  writeFileSync(
    join(sdkApp, "first.mjs"),
    `import { openInventory, InsufficientStock } from "@invkit/sdk"
import { isCode } from "@invkit/sdk/rules"
const inv = await openInventory({ inMemory: true })
await inv.products.add({ sku: "PACK-1", name: "Packed widget", reorderPoint: 5, reorderQuantity: 20 })
await inv.stock.set("PACK-1", 40)
await inv.stock.adjust("PACK-1", -3, { reason: "sale" })
const refused = await inv.stock.adjust("PACK-1", -100).catch((error) => error)
const level = await inv.stock.level("PACK-1")
await inv.close()
console.log(JSON.stringify({ onHand: level.onHand, refused: refused instanceof InsufficientStock, code: isCode("PACK-1") }))
`
  )
  const esm = JSON.parse(run(process.execPath, ["first.mjs"], { cwd: sdkApp }).trim())
  if (esm.onHand !== 37 || esm.refused !== true || esm.code !== true)
    fail(`the ESM program printed ${JSON.stringify(esm)}, not onHand 37 with the overdraw refused`)

  // CommonJS takes the ESM-only package with import(), and with require() from Node 20.19 on, as
  // docs/sdk.md says.
  const [major, minor] = process.versions.node.split(".").map(Number)
  const requireLoadsEsm = major > 20 || (major === 20 && minor >= 19)
  writeFileSync(
    join(sdkApp, "legacy.cjs"),
    `import("@invkit/sdk").then((sdk) => {
  const required = ${requireLoadsEsm} ? typeof require("@invkit/sdk").openInventory : "function"
  console.log(typeof sdk.openInventory, required)
})
`
  )
  const cjs = run(process.execPath, ["legacy.cjs"], { cwd: sdkApp }).trim()
  if (cjs !== "function function") fail(`import() / require() of @invkit/sdk from CommonJS gave ${cjs}`)

  // A strict TypeScript program, type-checked with the workspace's compiler against the installed
  // declarations (skipLibCheck off, so they are checked too). The @ts-expect-error lines fail the
  // check if the types went loose (any).
  const typesNode = /"@types\/node":\s*([\d.]+)/.exec(
    readFileSync(join(root, "pnpm-workspace.yaml"), "utf8")
  )?.[1]
  npmInstall(sdkApp, [`@types/node@${typesNode ?? "20"}`])
  writeFileSync(
    join(sdkApp, "tsconfig.json"),
    `${JSON.stringify({
      compilerOptions: {
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        module: "nodenext",
        moduleResolution: "nodenext",
        target: "es2022",
        types: ["node"],
        noEmit: true,
        skipLibCheck: false
      },
      files: ["typed.ts"]
    })}\n`
  )
  writeFileSync(
    join(sdkApp, "typed.ts"),
    `import { openInventory, InsufficientStock, Inventory } from "@invkit/sdk"
import { Effect } from "effect"

const inv: Inventory.Inventory = await openInventory({ inMemory: true })
const change = await inv.stock.set("PACK-1", 40)
const onHand: number = change.onHand
// @ts-expect-error a quantity is a number
await inv.stock.set("PACK-1", "forty")
// @ts-expect-error no such call
await inv.stock.steal("PACK-1")
const target = Effect.runSync(Inventory.resolveTarget({}))
const tag: "Embedded" | "Postgres" | "Remote" = target._tag
export const values = [onHand, tag, InsufficientStock.name] as const
`
  )
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc")
  try {
    run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: sdkApp })
  } catch (error) {
    fail(`the strict TypeScript program does not type-check:\n${error.stdout}${error.stderr}`)
  }
  step(`the SDK: ESM, CommonJS and strict TypeScript programs ran`)

  // --- the CLI, installed with the SDK's tarball (its dependency, not yet published) ----------
  const cliApp = emptyApp(work, "cli-app")
  npmInstall(cliApp, [tarball.sdk, tarball.cli])
  checkInstallScripts(cliApp, acceptedScripts)
  checkEngines(cliApp, engines.cli, "@invkit/cli")
  const inv = join(cliApp, "node_modules", ".bin", "inv")
  const home = join(work, "inv-home")
  const env = { ...process.env, INV_HOME: home }
  for (const name of ["INV_URL", "INV_TOKEN", "INV_DATABASE_URL", "INV_PROFILE", "XDG_CONFIG_HOME"])
    delete env[name]
  env.XDG_CONFIG_HOME = join(work, "config")
  const cli = (...args) => run(inv, args, { cwd: cliApp, env }).trim()
  const { version } = JSON.parse(readFileSync(join(root, "packages", "cli", "package.json"), "utf8"))
  const printed = cli("--version")
  if (printed !== version) fail(`inv --version printed "${printed}", not ${version}`)
  cli("product", "add", "PACK-1", "--name", "Packed widget")
  cli("stock", "set", "PACK-1", "12")
  const levels = JSON.parse(cli("--json", "stock", "get", "PACK-1"))
  const level = (Array.isArray(levels) ? levels : (levels.items ?? [levels]))[0]
  if (level?.onHand !== 12) fail(`inv stock get after inv stock set 12 printed ${JSON.stringify(levels)}`)
  const mode = statSync(home).mode & 0o777
  if ((mode & 0o077) !== 0)
    fail(`the embedded store's directory is mode ${mode.toString(8)}, readable by others`)
  // The store process the commands started would otherwise idle on for ten minutes.
  cli("store", "stop")
  step(`the CLI: inv --version, inv stock set and get on the embedded store ran`)

  // --- the server ---------------------------------------------------------------------------
  const serverApp = emptyApp(work, "server-app")
  npmInstall(serverApp, [tarball.sdk, tarball.server])
  checkInstallScripts(serverApp, serverScripts)
  checkEngines(serverApp, engines.server, "@invkit/server")
  const token = run(
    join(serverApp, "node_modules", ".bin", "inv-server"),
    ["token", "create", "--role", "viewer"],
    {
      cwd: serverApp,
      env: { ...process.env, INV_JWT_SECRET: "pack-check-secret-of-at-least-32-characters" }
    }
  ).trim()
  if (token.split(".").length !== 3) fail(`inv-server token create printed "${token}", not a JWT`)
  step(`the server: inv-server token create ran`)
} finally {
  rmSync(work, { recursive: true, force: true })
}

const seconds = Math.round((Date.now() - started) / 1000)
if (failures.length > 0) {
  console.error(`pack-check: ${failures.length} failure(s) in ${seconds} s`)
  process.exit(1)
}
console.error(`pack-check: the packages install and run (${seconds} s)`)
