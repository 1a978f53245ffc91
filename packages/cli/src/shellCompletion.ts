/**
 * Shell completion scripts made from commander's command tree, so they complete exactly the
 * commands and options `inv` has. Each script holds the tree as data (per command: its
 * subcommands, its options, which options take a value, and fixed choices) and one small function
 * that finds, from the words typed so far, which command the cursor is in.
 */
import type { Command, Option } from "commander"

export const shells = ["bash", "zsh", "fish"] as const
export type Shell = (typeof shells)[number]

interface Candidate {
  readonly word: string
  readonly description: string
}

/** What a script knows, per key: a command's path ("" for `inv`, "stock set"), or "path --option". */
type Table = ReadonlyArray<readonly [key: string, candidates: ReadonlyArray<Candidate>]>

interface Tables {
  /** Per command: its subcommands. */
  readonly commands: Table
  /** Per command: its options, and `inv`'s own, which apply after any command too. */
  readonly options: Table
  /** Per command: the options whose next word is their value, not a command. */
  readonly valued: Table
  /** Fixed choices: of a command's argument under its path, of an option's value under "path --option". */
  readonly choices: Table
}

const flagsOf = (option: Option): ReadonlyArray<string> =>
  [option.short, option.long].filter((flag): flag is string => flag !== undefined)

const oneLine = (text: string): string => text.replace(/\s+/g, " ").trim()

const plain = (words: ReadonlyArray<string>): ReadonlyArray<Candidate> =>
  words.map((word) => ({ word, description: "" }))

const tablesOf = (program: Command): Tables => {
  const tables = { commands: [], options: [], valued: [], choices: [] } as Record<
    keyof Tables,
    Array<Table[number]>
  >
  const add = (table: keyof Tables, key: string, candidates: ReadonlyArray<Candidate>) => {
    if (candidates.length > 0) tables[table].push([key, candidates])
  }
  const walk = (command: Command, path: string): void => {
    const help = command.createHelp()
    const options = [...help.visibleOptions(command), ...(command === program ? [] : program.options)]
    const unique = options.filter(
      (option, at) => options.findIndex((other) => other.name() === option.name()) === at
    )
    const subcommands = help.visibleCommands(command)
    add(
      "commands",
      path,
      subcommands.map((sub) => ({ word: sub.name(), description: oneLine(help.subcommandDescription(sub)) }))
    )
    add(
      "options",
      path,
      unique.flatMap((option) =>
        flagsOf(option).map((word) => ({ word, description: oneLine(option.description) }))
      )
    )
    add("valued", path, plain(unique.filter((option) => option.required || option.optional).flatMap(flagsOf)))
    add("choices", path, plain(command.registeredArguments.flatMap((argument) => argument.argChoices ?? [])))
    for (const option of unique) {
      for (const flag of flagsOf(option))
        add("choices", `${path} ${flag}`.trim(), plain(option.argChoices ?? []))
    }
    for (const sub of subcommands) walk(sub, `${path} ${sub.name()}`.trim())
  }
  walk(program, "")
  return tables
}

/** Single-quoted for bash and zsh. */
const quoted = (text: string): string => `'${text.replaceAll("'", `'\\''`)}'`

/** Single-quoted for fish, whose quotes escape only \ and '. */
const fishQuoted = (text: string): string => `'${text.replace(/[\\']/g, "\\$&")}'`

/** A bash or zsh function answering, for the key in its first argument, that key's line. */
const caseFunction = (name: string, table: Table, line: (candidates: ReadonlyArray<Candidate>) => string) =>
  [
    `${name}() {`,
    '  case "$1" in',
    ...table.map(([key, candidates]) => `    ${quoted(key)}) ${line(candidates)} ;;`),
    "  esac",
    "}"
  ].join("\n")

const bash = (program: Command): string => {
  const tables = tablesOf(program)
  // One line of words separated by spaces: what compgen -W takes.
  const words = (candidates: ReadonlyArray<Candidate>) =>
    `echo ${quoted(candidates.map((c) => c.word).join(" "))}`
  return `# inv completion for bash, made from inv's own command tree.
# Load it with: source <(inv completion bash)   (add that line to ~/.bashrc for every shell)
${caseFunction("_inv_commands", tables.commands, words)}
${caseFunction("_inv_options", tables.options, words)}
${caseFunction("_inv_valued", tables.valued, words)}
${caseFunction("_inv_choices", tables.choices, words)}
_inv() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} node="" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=\${COMP_WORDS[i]}
    if [[ $word == -* ]]; then
      # An option's value is not a command: skip it.
      if [[ " $(_inv_valued "$node") " == *" $word "* ]]; then ((i++)); fi
    elif [[ " $(_inv_commands "$node") " == *" $word "* ]]; then
      node=\${node:+$node }$word
    fi
  done
  if [[ $prev == -* && " $(_inv_valued "$node") " == *" $prev "* ]]; then
    COMPREPLY=($(compgen -W "$(_inv_choices "\${node:+$node }$prev")" -- "$cur"))
  elif [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_inv_options "$node")" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$(_inv_commands "$node") $(_inv_choices "$node")" -- "$cur"))
  fi
}
# Nothing to offer (a file, a SKU): bash's own completion of file names.
complete -o default -F _inv inv
`
}

const zsh = (program: Command): string => {
  const tables = tablesOf(program)
  // One word a line, "word:description" where _describe shows the description.
  const described = (candidates: ReadonlyArray<Candidate>) =>
    `print -rl -- ${candidates.map((c) => quoted(`${c.word.replaceAll(":", "\\:")}:${c.description}`)).join(" ")}`
  const words = (candidates: ReadonlyArray<Candidate>) =>
    `print -rl -- ${candidates.map((c) => quoted(c.word)).join(" ")}`
  return `#compdef inv
# inv completion for zsh, made from inv's own command tree.
# Install it with: inv completion zsh > "\${fpath[1]}/_inv"   (then start a new shell)
# or, after compinit in ~/.zshrc: source <(inv completion zsh)
${caseFunction("_inv_commands", tables.commands, described)}
${caseFunction("_inv_options", tables.options, described)}
${caseFunction("_inv_valued", tables.valued, words)}
${caseFunction("_inv_choices", tables.choices, words)}
_inv() {
  local node= word cur=\${words[CURRENT]} prev=\${words[CURRENT-1]}
  local -i i
  local -a names valued candidates
  for ((i = 2; i < CURRENT; i++)); do
    word=\${words[i]}
    if [[ $word == -* ]]; then
      # An option's value is not a command: skip it.
      valued=(\${(f)"$(_inv_valued "$node")"})
      (( \${valued[(Ie)$word]} )) && ((i++))
    else
      names=(\${\${(f)"$(_inv_commands "$node")"}%%:*})
      (( \${names[(Ie)$word]} )) && node=\${node:+$node }$word
    fi
  done
  valued=(\${(f)"$(_inv_valued "$node")"})
  if [[ $prev == -* ]] && (( \${valued[(Ie)$prev]} )); then
    candidates=(\${(f)"$(_inv_choices "\${node:+$node }$prev")"})
    if (( $#candidates )); then compadd -a candidates; else _files; fi
  elif [[ $cur == -* ]]; then
    candidates=(\${(f)"$(_inv_options "$node")"})
    _describe -t options 'inv option' candidates
  else
    candidates=(\${(f)"$(_inv_commands "$node")"})
    names=(\${(f)"$(_inv_choices "$node")"})
    if (( $#candidates )); then _describe -t commands 'inv command' candidates
    elif (( $#names )); then compadd -a names
    else _files; fi
  fi
}
if [[ $funcstack[1] == _inv ]]; then _inv "$@"; else compdef _inv inv; fi
`
}

const fish = (program: Command): string => {
  const tables = tablesOf(program)
  // One "word<tab>description" a line: fish shows the description beside the word.
  const fishFunction = (name: string, table: Table) =>
    [
      `function ${name}`,
      '    switch "$argv[1]"',
      ...table.flatMap(([key, candidates]) => [
        `        case ${fishQuoted(key)}`,
        `            printf '%s\\t%s\\n' ${candidates.map((c) => `${fishQuoted(c.word)} ${fishQuoted(c.description)}`).join(" ")}`
      ]),
      "    end",
      "end"
    ].join("\n")
  return `# inv completion for fish, made from inv's own command tree.
# Install it with: inv completion fish > ~/.config/fish/completions/inv.fish
${fishFunction("__inv_commands", tables.commands)}
${fishFunction("__inv_options", tables.options)}
${fishFunction("__inv_valued", tables.valued)}
${fishFunction("__inv_choices", tables.choices)}
function __inv_node --description "the inv command the line has reached"
    set -l node ''
    set -l skip 0
    for word in (commandline -opc)[2..-1]
        if test $skip = 1
            # An option's value is not a command.
            set skip 0
        else if string match -q -- '-*' $word
            contains -- $word (__inv_valued "$node" | string replace -r '\\t.*' ''); and set skip 1
        else if contains -- $word (__inv_commands "$node" | string replace -r '\\t.*' '')
            set node (string trim -- "$node $word")
        end
    end
    printf '%s\\n' "$node"
end
function __inv_complete
    set -l node (__inv_node)
    set -l cur (commandline -ct)
    set -l prev (commandline -opc)[-1]
    if string match -q -- '-*' "$prev"; and contains -- "$prev" (__inv_valued "$node" | string replace -r '\\t.*' '')
        set -l choices (__inv_choices (string trim -- "$node $prev"))
        if set -q choices[1]
            printf '%s\\n' $choices
        else
            __fish_complete_path "$cur"
        end
    else if string match -q -- '-*' "$cur"
        __inv_options "$node"
    else
        set -l candidates (__inv_commands "$node") (__inv_choices "$node")
        if set -q candidates[1]
            printf '%s\\n' $candidates
        else
            __fish_complete_path "$cur"
        end
    end
end
complete -c inv -e
complete -c inv -f -a '(__inv_complete)'
`
}

const render: Record<Shell, (program: Command) => string> = { bash, zsh, fish }

export const completionScript = (shell: Shell, program: Command): string => render[shell](program)
