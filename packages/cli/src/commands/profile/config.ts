import { type Inventory, Store } from "@invkit/sdk"
import { configPath, readConfig } from "../../profiles.js"
import { type GlobalOptions, resolveTarget } from "../../session.js"
import { printJson, printLine } from "../../ui/output.js"

/** What `inv config` reports: values with their sources; a token only as whether it is set. */
const describeTarget = (options: GlobalOptions) => {
  const config = readConfig()
  const target = resolveTarget(options, () => config)
  const where = (() => {
    switch (target._tag) {
      case "Remote":
        return {
          store: { kind: "server", location: target.url.value, source: target.url.source },
          token: target.token ? { set: true, source: target.token.source } : { set: false },
          caFile: target.caFile ?? null,
          profile: target.profile ?? null
        }
      case "Postgres":
        return {
          store: { kind: "postgres", location: Store.safeUrl(target.url.value), source: target.url.source }
        }
      case "Embedded":
        return {
          store: {
            kind: "embedded",
            location: target.dataDir?.value ?? "memory",
            source:
              target.dataDir?.source === "default"
                ? "the default (XDG_DATA_HOME/inv, else ~/.local/share/inv)"
                : (target.dataDir?.source ?? "")
          }
        }
    }
  })()
  return {
    ...where,
    configFile: configPath(),
    defaultProfile: config.defaultProfile ?? null,
    profiles: Object.entries(config.profiles).map(([name, profile]) => ({ name, server: profile.server }))
  }
}

const sourced = (setting: Inventory.Setting | { readonly set: boolean; readonly source?: string }) =>
  "value" in setting ? `${setting.value}  (from ${setting.source})` : ""

export const show = async (options: GlobalOptions): Promise<void> => {
  const described = describeTarget(options)
  if (options.json) {
    printJson(described)
    return
  }
  const { store } = described
  printLine(`store         ${store.kind} ${store.location}  (from ${store.source})`)
  if ("token" in described && described.token !== undefined) {
    printLine(
      `token         ${described.token.set ? `set, not shown  (from ${described.token.source})` : "none: requests are sent without one"}`
    )
    if (described.caFile) printLine(`ca file       ${sourced(described.caFile)}`)
  }
  printLine(`config file   ${described.configFile}`)
  const profiles = described.profiles.map(
    (profile) =>
      `${profile.name}${profile.name === described.defaultProfile ? " (default)" : ""} ${profile.server}`
  )
  printLine(
    `profiles      ${profiles.length > 0 ? profiles.join("\n              ") : "none (inv login adds one)"}`
  )
}
