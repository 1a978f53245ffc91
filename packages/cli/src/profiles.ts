/**
 * Named server profiles (`inv login`), kept in `$XDG_CONFIG_HOME/inv/config.json` (else
 * `~/.config/inv/config.json`). The file holds tokens, so it is written with mode 0600 in a 0700
 * directory, and replaced atomically so a crash never leaves half a file.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs"
import { homedir } from "node:os"
import { dirname, join } from "node:path"
import { quoteInput } from "@invkit/sdk/rules"
import { UsageError } from "./usageError.js"

export interface Profile {
  readonly server: string
  readonly token?: string | undefined
  /** A CA (PEM file) to trust for the server's certificate. */
  readonly caFile?: string | undefined
}

export interface ConfigFile {
  readonly defaultProfile?: string | undefined
  readonly profiles: Readonly<Record<string, Profile>>
}

export const configPath = (): string =>
  join(process.env.XDG_CONFIG_HOME || join(homedir(), ".config"), "inv", "config.json")

export const readConfig = (path = configPath()): ConfigFile => {
  let text: string
  try {
    text = readFileSync(path, "utf8")
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { profiles: {} }
    throw new UsageError(`cannot read ${path} (${(error as NodeJS.ErrnoException).code})`)
  }
  try {
    const parsed = JSON.parse(text) as Partial<ConfigFile>
    return { defaultProfile: parsed.defaultProfile, profiles: parsed.profiles ?? {} }
  } catch {
    throw new UsageError(`${path} is not valid JSON; fix it or delete it and run inv login again`)
  }
}

export const writeConfig = (config: ConfigFile, path = configPath()): void => {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const temporary = `${path}.${process.pid}.tmp`
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 })
  // The mode given to writeFileSync applies only to a new file, and the umask may narrow it anyway.
  chmodSync(temporary, 0o600)
  renameSync(temporary, path)
}

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/

export const checkProfileName = (name: string): string => {
  if (!PROFILE_NAME.test(name)) {
    throw new UsageError(
      `--profile: ${quoteInput(name)} is not a profile name; use letters, digits, - _ . (up to 64 characters)`
    )
  }
  return name
}

/** The named profile; a usage error listing the known ones when there is none by that name. */
export const profileNamed = (config: ConfigFile, name: string): Profile => {
  const profile = config.profiles[name]
  if (profile === undefined) {
    const known = Object.keys(config.profiles)
    throw new UsageError(
      `no profile "${name}"; ${known.length > 0 ? `the profiles are ${known.join(", ")}` : "there are none yet"}. Create it with inv login --profile ${name} --server <url>`
    )
  }
  return profile
}
