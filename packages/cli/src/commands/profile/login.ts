import { connect } from "@invkit/sdk"
import { quoteInput } from "@invkit/sdk/rules"
import { checkProfileName, configPath, readConfig, writeConfig } from "../../profiles.js"
import type { GlobalOptions } from "../../session.js"
import { note, printJson } from "../../ui/output.js"
import { askIfMissing, canPrompt } from "../../ui/prompt.js"
import { UsageError } from "../../usageError.js"

export interface LoginOptions extends GlobalOptions {
  readonly tokenStdin?: boolean
  readonly caFile?: string
  readonly default?: boolean
}

const readStdin = async (): Promise<string> => {
  const chunks: Array<Buffer> = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString("utf8").trim()
}

const tokenOf = async (options: LoginOptions): Promise<string> => {
  if (options.tokenStdin && options.token !== undefined) {
    throw new UsageError("pass either --token or --token-stdin, not both")
  }
  if (options.token !== undefined) return options.token
  if (options.tokenStdin) {
    const token = await readStdin()
    if (token === "") throw new UsageError("--token-stdin: stdin was empty; pipe the token in")
    return token
  }
  if (!canPrompt()) throw new UsageError("missing the token; pass --token or --token-stdin")
  const { password } = await import("@inquirer/prompts")
  return password({ message: "Token", mask: true }, { input: process.stdin, output: process.stderr })
}

export const login = async (options: LoginOptions): Promise<void> => {
  const name = checkProfileName(options.profile ?? "default")
  const server = await askIfMissing(options.server, {
    name: "--server",
    passIt: "as --server <url>",
    question: "Server URL"
  })
  try {
    new URL(server)
  } catch {
    throw new UsageError(`--server: ${quoteInput(server)} is not a URL; e.g. https://inv.example.com`)
  }
  const token = await tokenOf(options)
  // Nothing is saved unless the server accepts the token: a read any role may make.
  const inventory = connect({ url: server, token, caFile: options.caFile, maxRetries: 1 })
  try {
    await inventory.stock.overview()
  } finally {
    await inventory.close()
  }
  const config = readConfig()
  const first = Object.keys(config.profiles).length === 0
  writeConfig({
    defaultProfile: first || options.default ? name : config.defaultProfile,
    profiles: { ...config.profiles, [name]: { server, token, caFile: options.caFile } }
  })
  const isDefault = first || Boolean(options.default) || config.defaultProfile === name
  if (options.json) {
    printJson({ profile: name, server, default: isDefault, configFile: configPath() })
    return
  }
  note(
    `Logged in to ${server} as profile ${name}${isDefault ? " (the default)" : ` (use it with --profile ${name})`}; saved in ${configPath()}.`
  )
}

export const logout = async (options: GlobalOptions): Promise<void> => {
  const config = readConfig()
  const name = checkProfileName(options.profile ?? config.defaultProfile ?? "default")
  if (config.profiles[name] === undefined) {
    throw new UsageError(`no profile "${name}" to log out of`)
  }
  const { [name]: _removed, ...profiles } = config.profiles
  writeConfig({
    defaultProfile: config.defaultProfile === name ? undefined : config.defaultProfile,
    profiles
  })
  if (options.json) {
    printJson({ profile: name, removed: true })
    return
  }
  note(`Forgot profile ${name} and its token.`)
}
