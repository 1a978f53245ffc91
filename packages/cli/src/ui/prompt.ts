/**
 * Asking for what is missing, only when someone can answer: with stdin and stderr on a terminal.
 * Prompts draw on stderr so that stdout keeps only data. @inquirer/prompts is loaded only when
 * a prompt is shown.
 */
import { UsageError } from "../usageError.js"

export const canPrompt = (): boolean => Boolean(process.stdin.isTTY && process.stderr.isTTY)

export interface Missing {
  /** How it appears in the error, e.g. `<quantity>` or `--name`. */
  readonly name: string
  /** Where to pass it, e.g. `as the second argument` or `as --name "Blue widget"`. */
  readonly passIt: string
  /** The question on a terminal. */
  readonly question: string
}

/** The value if given; else asks on a terminal; else a usage error naming what is missing. */
export const askIfMissing = async (value: string | undefined, missing: Missing): Promise<string> => {
  if (value !== undefined) return value
  if (!canPrompt()) throw new UsageError(`missing ${missing.name}; pass it ${missing.passIt}`)
  const { input } = await import("@inquirer/prompts")
  return input(
    { message: missing.question, required: true },
    { input: process.stdin, output: process.stderr }
  )
}

/** True when confirmed: by --yes, or on a terminal by the person; without either, a usage error. */
export const confirmOrRequireYes = async (
  confirmation: { readonly question: string; readonly action: string },
  yes: boolean | undefined
): Promise<boolean> => {
  if (yes) return true
  const { question, action } = confirmation
  if (!canPrompt()) throw new UsageError(`${action} needs confirmation; pass --yes`)
  const { confirm } = await import("@inquirer/prompts")
  return confirm({ message: question, default: false }, { input: process.stdin, output: process.stderr })
}
