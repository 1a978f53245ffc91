import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Command } from "commander"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { commandTree } from "../src/program/commandTree.js"
import { runInv } from "./inv.js"

/** A command of the tree as the test walks it: the words to reach it, its subcommands and flags. */
interface Place {
  readonly path: ReadonlyArray<string>
  readonly commands: ReadonlyArray<string>
  readonly flags: ReadonlyArray<string>
}

const walk = (command: Command, path: ReadonlyArray<string>): ReadonlyArray<Place> => [
  {
    path,
    commands: command.commands.map((sub) => sub.name()),
    flags: command.options.flatMap((option) =>
      [option.short, option.long].filter((flag) => flag !== undefined)
    )
  },
  ...command.commands.flatMap((sub) => walk(sub, [...path, sub.name()]))
]

const places = walk(commandTree({ version: "0.0.0", json: false }), [])
const everyCommand = [...new Set(places.flatMap((place) => place.commands))]
const everyFlag = [...new Set(places.flatMap((place) => place.flags))]

/** The completions asked for: at each place, what comes next, and which flags start with "-". */
const questions = places.flatMap((place) => [
  { words: [...place.path, ""], expected: place.commands },
  { words: [...place.path, "-"], expected: place.flags }
])

const installed = (shell: string): boolean => spawnSync(shell, ["-c", "exit 0"]).status === 0

const scratch = mkdtempSync(join(tmpdir(), "inv-completion-"))
const scripts: Record<string, string> = {}

beforeAll(async () => {
  for (const shell of ["bash", "zsh", "fish"]) {
    const { code, stdout, stderr } = await runInv(["completion", shell])
    expect(stderr).toBe("")
    expect(code).toBe(0)
    scripts[shell] = join(scratch, `inv.${shell}`)
    writeFileSync(scripts[shell], stdout)
  }
})

afterAll(() => rmSync(scratch, { recursive: true, force: true }))

/** Runs `program` in `shell`, answering one line per question: the words it would complete. */
const completions = (shell: string, program: string): ReadonlyArray<ReadonlyArray<string>> => {
  const run = spawnSync(shell, ["-c", program], { encoding: "utf8", cwd: scratch })
  expect(run.stderr).toBe("")
  expect(run.status).toBe(0)
  return run.stdout
    .split("<<end>>\n")
    .slice(0, -1)
    .map((answer) => answer.split(/\s+/).filter((word) => word !== ""))
}

const shellWords = (words: ReadonlyArray<string>): string => words.map((word) => `'${word}'`).join(" ")

describe("inv completion", () => {
  it.each(["bash", "zsh", "fish"])(
    "the %s script mentions every command and flag of the tree",
    async (shell) => {
      const { stdout } = await runInv(["completion", shell])
      const mentioned = new Set(stdout.split(/[^\w-]+/))
      expect(everyCommand.filter((command) => !mentioned.has(command))).toEqual([])
      expect(everyFlag.filter((flag) => !mentioned.has(flag))).toEqual([])
    }
  )

  it("refuses a shell it has no script for (exit 2)", async () => {
    const { code, stderr } = await runInv(["completion", "powershell"])
    expect(code).toBe(2)
    expect(stderr).toContain("bash, zsh, fish")
  })

  /** Per shell: how to load the script and ask for the completions of a line, one answer a block. */
  const drivers: Record<
    string,
    {
      readonly setup: (script: string) => ReadonlyArray<string>
      readonly ask: (words: ReadonlyArray<string>) => string
    }
  > = {
    bash: {
      setup: (script) => [
        `source '${script}'`,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: bash, not a template
        'ask() { COMP_WORDS=(inv "$@"); COMP_CWORD=$#; COMPREPLY=(); _inv; printf "%s\\n<<end>>\\n" "${COMPREPLY[*]}"; }'
      ],
      ask: (words) => `ask ${shellWords(words)}`
    },
    zsh: {
      // Outside a completion widget: the builtins that offer words print those that match the word typed.
      setup: (script) => [
        "emulate zsh",
        "compdef() { :; }",
        `source '${script}'`,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh, not a template
        "_describe() { local word; for word in ${${(P)${@[-1]}}%%:*}; do [[ $word == ${cur}* ]] && print -r -- $word; done; }",
        // biome-ignore lint/suspicious/noTemplateCurlyInString: zsh, not a template
        "compadd() { local word; for word in ${(P)${@[-1]}}; do [[ $word == ${cur}* ]] && print -r -- $word; done; }",
        '_files() { print -r -- "(files)"; }',
        'ask() { words=(inv "$@"); CURRENT=$#words; _inv; print -r -- "<<end>>"; }'
      ],
      ask: (words) => `ask ${shellWords(words)}`
    },
    fish: {
      setup: (script) => [`source '${script}'`],
      ask: (words) =>
        `complete -C ${shellWords([["inv", ...words].join(" ")])} | string replace -r '\\t.*' ''; echo '<<end>>'`
    }
  }

  it.for(["bash", "zsh", "fish"])(
    "%s completes every command and flag at every place of the tree (skipped when the shell is missing)",
    (shell, { skip }) => {
      if (!installed(shell)) return skip()
      const driver = drivers[shell]!
      const script = scripts[shell]!
      expect(spawnSync(shell, ["-n", script]).status).toBe(0)
      const program = [
        ...driver.setup(script),
        driver.ask(["stoc"]),
        driver.ask(["stock", "se"]),
        ...questions.map(({ words }) => driver.ask(words))
      ].join("\n")
      const [stock, set, ...answers] = completions(shell, program)
      expect(stock).toEqual(["stock"])
      expect(set).toEqual(["set"])
      questions.forEach(({ words, expected }, at) => {
        expect({ words, offered: answers[at] }).toEqual({
          words,
          offered: expect.arrayContaining([...expected])
        })
      })
    }
  )
})
