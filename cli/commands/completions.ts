// `orch completions bash|zsh|fish`: a script for the shell that asks orch itself what may
// come next (yargs answers `orch --get-yargs-completions WORDS…` from the command tree), so
// completions never drift from the commands. SHELL is set for that call because yargs
// picks its answer's shape (plain words, zsh `name:description`, fish `name<TAB>description`) from it.
import type { CommandModule } from 'yargs';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

const BASH = `# orch completion for bash. Install: orch completions bash > ~/.local/share/bash-completion/completions/orch
#   (or: source <(orch completions bash) in ~/.bashrc)
_orch_completions()
{
    local cur_word type_list
    cur_word="\${COMP_WORDS[COMP_CWORD]}"
    mapfile -t type_list < <(SHELL=bash orch --get-yargs-completions "\${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null)
    mapfile -t COMPREPLY < <(compgen -W "$(printf '%q ' "\${type_list[@]}")" -- "\${cur_word}")
    return 0
}
complete -o bashdefault -o default -F _orch_completions orch
`;

const ZSH = `#compdef orch
# orch completion for zsh. Install: orch completions zsh > "\${fpath[1]}/_orch"
#   (or: source <(orch completions zsh) in ~/.zshrc, after compinit)
_orch_completions()
{
  local -a reply
  local si=$IFS
  IFS=$'\\n' reply=($(SHELL=zsh orch --get-yargs-completions "\${(@)words[1,CURRENT]}" 2>/dev/null))
  IFS=$si
  if (( \${#reply} > 0 )); then
    _describe 'orch' reply
  else
    _default
  fi
}
if [[ "\${zsh_eval_context[-1]}" == "loadautofunc" ]]; then
  _orch_completions "$@"
else
  compdef _orch_completions orch
fi
`;

const FISH = `# orch completion for fish. Install: orch completions fish > ~/.config/fish/completions/orch.fish
function __orch_completions
    set -l words (commandline -opc)
    env SHELL=fish orch --get-yargs-completions $words "$(commandline -ct)" 2>/dev/null
end
complete -c orch -f -a '(__orch_completions)'
`;

export function completionScript(shell: Shell): string {
  return { bash: BASH, zsh: ZSH, fish: FISH }[shell];
}

export const completionsCommand: CommandModule = {
  command: 'completions <shell>',
  describe: 'Print a shell completion script (bash, zsh or fish)',
  builder: (y) => y.positional('shell', { choices: SHELLS, demandOption: true, describe: 'Which shell' }),
  handler: (argv) => {
    process.stdout.write(completionScript(argv.shell as Shell));
  },
};
