/**
 * Asking for what is missing, only when someone can answer: with stdin and stderr on a terminal.
 * Prompts draw on stderr so that stdout keeps only data. @inquirer/prompts is loaded only when
 * a prompt is shown.
 */
import { UsageError } from "../usageError.js"

export const canPrompt = (): boolean => Boolean(process.stdin.isTTY && process.stderr.isTTY)

/** Where prompts read and draw; a function, as merely touching process.stdin opens it. */
export const terminal = () => ({ input: process.stdin, output: process.stderr })

/** Ctrl-C or Ctrl-D at a prompt: the person chose to stop; nothing to report. */
export const isPromptCancelled = (error: unknown): boolean =>
  error instanceof Error && error.name === "ExitPromptError"

/**
 * A prompt's check from the parser the value goes through anyway: a refused answer is asked
 * again, with the parser's reason, instead of ending the command.
 */
export const checkedBy =
  (parse: (answer: string) => unknown) =>
  async (answer: string): Promise<true | string> => {
    try {
      await parse(answer)
      return true
    } catch (error) {
      return error instanceof Error ? error.message : String(error)
    }
  }

export interface Missing<A = string> {
  /** How it appears in the error, e.g. `<quantity>` or `--name`. */
  readonly name: string
  /** Where to pass it, e.g. `as the second argument` or `as --name "Blue widget"`. */
  readonly passIt: string
  /** The question on a terminal. */
  readonly question: string
  /** The value from its text; throws (or rejects) when the text is not one (then a prompt asks again). */
  readonly parse?: (text: string) => A | Promise<A>
}

/**
 * The value if given; else asks on a terminal until the answer parses; else a usage error naming
 * what is missing.
 */
export async function askIfMissing(value: string | undefined, missing: Missing<string>): Promise<string>
export async function askIfMissing<A>(
  value: string | undefined,
  missing: Missing<A> & { readonly parse: (text: string) => A | Promise<A> }
): Promise<A>
export async function askIfMissing<A>(value: string | undefined, missing: Missing<A>): Promise<A | string> {
  const parse = missing.parse ?? ((text: string): A | string => text)
  if (value !== undefined) return parse(value)
  if (!canPrompt()) throw new UsageError(`missing ${missing.name}; pass it ${missing.passIt}`)
  const { input } = await import("@inquirer/prompts")
  const answer = await input(
    {
      message: missing.question,
      required: true,
      validate: checkedBy(parse),
      // A refused answer is cleared: the question is asked again, not left to be edited.
      theme: { validationFailureMode: "clear" }
    },
    terminal()
  )
  return parse(answer)
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
  return confirm({ message: question, default: false }, terminal())
}
