// `ipsx completion bash|zsh` and `ipsx manpage`: the shell completions and the man page, written
// from the commands' own definitions (their names, options, descriptions and environment
// variables), so they cannot drift from `--help`. The build writes them into build/share and
// installs them with the program (packaging/CMakeLists.txt).
#include "help_export.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace ipsx::cli {
namespace {

// A command as the exports see it: its words after `ipsx` and its definition.
struct Command {
  std::string path;  // "" for ipsx itself, "gateway export", ...
  const CLI::App* app;
};

bool hidden(const CLI::App* a) {
  return a->get_group().empty();
}

void collect(const CLI::App* app, const std::string& path, std::vector<Command>& out) {
  out.push_back({path, app});
  for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; })) {
    if (hidden(sub)) continue;
    collect(sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
  }
}

std::vector<Command> commands(const CLI::App& root) {
  std::vector<Command> out;
  collect(&root, "", out);
  return out;
}

std::vector<const CLI::Option*> options_of(const CLI::App* app) {
  return app->get_options([](const CLI::Option* o) {
    return o->nonpositional() && !o->get_group().empty() && !o->get_lnames().empty();
  });
}

std::vector<std::string> subcommand_names(const CLI::App* app) {
  std::vector<std::string> out;
  for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; }))
    if (!hidden(sub)) out.push_back(sub->get_name());
  return out;
}

bool takes_value(const CLI::Option* o) {
  return o->get_expected_max() > 0;
}

std::string first_sentence(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  if (auto dot = text.find(". "); dot != std::string::npos) text.resize(dot);
  if (auto colon = text.find(": "); colon != std::string::npos && colon > 20) text.resize(colon);
  return text;
}

// ---- bash ---------------------------------------------------------------------------------------

std::string bash_words(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "" : " ") + w;
  return s;
}

void write_bash(const CLI::App& root, std::ostream& out) {
  out << "# bash completion for ipsx, written by `ipsx completion bash` from the commands' own\n"
         "# definitions. Install as /usr/share/bash-completion/completions/ipsx, or source it.\n"
         "declare -gA _ipsx_subs _ipsx_opts _ipsx_values\n";
  for (const Command& c : commands(root)) {
    std::vector<std::string> opts, values;
    for (const CLI::Option* o : options_of(c.app)) {
      for (const auto& n : o->get_lnames()) {
        opts.push_back("--" + n);
        if (takes_value(o)) values.push_back("--" + n);
      }
    }
    out << fmt::format(
        "_ipsx_subs['{0}']='{1}'\n_ipsx_opts['{0}']='{2}'\n_ipsx_values['{0}']=' {3} '\n",
        c.path.empty() ? "ipsx" : "ipsx " + c.path, bash_words(subcommand_names(c.app)),
        bash_words(opts), bash_words(values));
  }
  out << R"(_ipsx() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} cmd=ipsx i w next
  # The command's words so far: each word that names a subcommand of the path before it.
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    [[ $w == -* ]] && continue
    next="$cmd $w"
    [[ -n ${_ipsx_opts[$next]+x} ]] && cmd=$next
  done
  # (the options of ipsx itself, --log-level and the like, may follow any command)
  if [[ $prev == --* && "${_ipsx_values[$cmd]} ${_ipsx_values[ipsx]} " == *" $prev "* ]]; then
    compopt -o default 2>/dev/null
    COMPREPLY=()
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "${_ipsx_opts[$cmd]} ${_ipsx_opts[ipsx]}" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "${_ipsx_subs[$cmd]}" -- "$cur"))
    [[ ${#COMPREPLY[@]} == 0 ]] && compopt -o default 2>/dev/null
  fi
}
complete -F _ipsx ipsx
)";
}

// ---- zsh ----------------------------------------------------------------------------------------

// A description inside a single-quoted zsh word: a _describe item or an _arguments spec's
// [description] (where brackets and backslashes are escaped).
std::string zsh_escape(std::string s) {
  std::string out;
  for (char ch : first_sentence(std::move(s))) {
    if (ch == '\'')
      out += "'\\''";
    else if (ch == '[' || ch == ']' || ch == '\\')
      out += std::string("\\") + ch;
    else
      out += ch;
  }
  return out;
}

void write_zsh(const CLI::App& root, std::ostream& out) {
  out << "#compdef ipsx\n# zsh completion for ipsx, written by `ipsx completion zsh` from the "
         "commands' own\n# definitions. Install as _ipsx in a directory of $fpath.\n"
         "_ipsx() {\n  local cmd=\"\" next w i\n  local -a specs subs known\n  known=(";
  const auto all = commands(root);
  for (const Command& c : all)
    if (!c.path.empty()) out << " '" << c.path << "'";
  out << R"( )
  # The command's words so far: each word that names a subcommand of the path before it.
  for ((i = 2; i < CURRENT; i++)); do
    w=${words[i]}
    [[ $w == -* ]] && continue
    next=${cmd:+$cmd }$w
    (( ${known[(Ie)$next]} )) && cmd=$next
  done
  case $cmd in
)";
  for (const Command& c : all) {
    out << "    '" << c.path << "')\n      subs=(";
    for (const CLI::App* sub : c.app->get_subcommands([](const CLI::App*) { return true; }))
      if (!hidden(sub))
        out << "\n        '" << sub->get_name() << ":" << zsh_escape(sub->get_description()) << "'";
    out << ")\n      specs=(";
    for (const CLI::Option* o : options_of(c.app))
      for (const auto& n : o->get_lnames())
        out << "\n        '--" << n << "[" << zsh_escape(o->get_description()) << "]"
            << (takes_value(o) ? ":value:_default" : "") << "'";
    out << ") ;;\n";
  }
  out << R"(  esac
  if (( ${#subs} )); then
    _arguments -s $specs '*:: :->sub' && return
    _describe -t commands 'ipsx command' subs
  else
    _arguments -s $specs '*:file:_files'
  fi
}
_ipsx "$@"
)";
}

// ---- man page -----------------------------------------------------------------------------------

// Text for roff: backslashes and hyphens escaped, no line starting with a control character.
std::string roff(std::string s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\\')
      out += "\\e";
    else if (ch == '-')
      out += "\\-";
    else if (ch == '\n')
      out += ' ';
    else
      out += ch;
  }
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
  return out;
}

void write_man(const CLI::App& root, const std::string& version, std::ostream& out) {
  out << ".\\\" The ipsx(1) manual page, written by `ipsx manpage` from the commands' "
         "definitions.\n"
      << ".TH IPSX 1 \"\" \"ipsx " << version << "\" \"User Commands\"\n"
      << ".SH NAME\nipsx \\- " << roff(root.get_description().substr(6)) << "\n"
      << ".SH SYNOPSIS\n.B ipsx\n[\\fB\\-\\-ca\\-file\\fR \\fIFILE\\fR] [\\fB\\-\\-log\\-level\\fR "
         "\\fILEVEL\\fR] [\\fB\\-\\-log\\-format\\fR \\fItext\\fR|\\fIjson\\fR] \\fICOMMAND\\fR "
         "[\\fIOPTIONS\\fR]\n"
      << ".SH DESCRIPTION\nOne program for the whole exchange: the market node (\\fBipsx "
         "node\\fR), "
         "the provider's agent (\\fBipsx provide\\fR), the requester's gateway (\\fBipsx "
         "gateway\\fR), the relay, and the commands for wallets, the ledger, orders and a node's "
         "API. \\fBipsx COMMAND \\-\\-help\\fR says the same as this page for one command.\n";
  std::map<std::string, std::string> env;  // variable -> the options it stands for
  out << ".SH COMMANDS\n";
  for (const Command& c : commands(root)) {
    const auto opts = options_of(c.app);
    out << ".SS \"ipsx" << (c.path.empty() ? "" : " " + roff(c.path)) << "\"\n"
        << roff(c.app->get_description()) << "\n";
    if (auto subs = subcommand_names(c.app); !subs.empty()) {
      std::string list;
      for (const auto& s : subs) list += (list.empty() ? "" : ", ") + ("\\fB" + roff(s) + "\\fR");
      out << ".PP\nCommands: " << list << ".\n";
    }
    for (const CLI::Option* o : opts) {
      if (o->get_lnames().front() == "help") continue;
      std::string names;
      for (const auto& n : o->get_lnames())
        names += (names.empty() ? "" : ", ") + ("\\fB\\-\\-" + roff(n) + "\\fR");
      out << ".TP\n"
          << names << (takes_value(o) ? " \\fIVALUE\\fR" : "") << "\n"
          << roff(o->get_description());
      if (o->get_required()) out << " Required.";
      if (!o->get_default_str().empty()) out << " Default: " << roff(o->get_default_str()) << ".";
      if (!o->get_envname().empty()) {
        out << " Environment: \\fB" << roff(o->get_envname()) << "\\fR.";
        auto& uses = env[o->get_envname()];
        const std::string use =
            "ipsx " + (c.path.empty() ? "" : c.path + " ") + "--" + o->get_lnames().front();
        if (uses.find(use) == std::string::npos) uses += (uses.empty() ? "" : "; ") + use;
      }
      out << "\n";
    }
  }
  out << ".SH ENVIRONMENT\nEach option that names a variable takes its value from it when not "
         "given; the command line wins.\n";
  for (const auto& [name, uses] : env)
    out << ".TP\n.B " << roff(name) << "\n" << roff(uses) << "\n";
  out << ".SH FILES\n.TP\n.I /usr/share/ipsx\nThe contracts' JSON and the geo data, found beside "
         "the program (\\fIPREFIX\\fR/bin/ipsx reads \\fIPREFIX\\fR/share/ipsx).\n"
         ".TP\n.I /etc/ipsx\nThe services' settings (node.toml, provide.toml, *.env).\n"
         ".TP\n.I /var/lib/ipsx\nThe services' state: ledgers, market journals, balance proofs.\n"
         ".SH SEE ALSO\n\\fBcast\\fR(1), \\fBcurl\\fR(1), \\fBsystemctl\\fR(1); "
         "/usr/share/doc/ipsx/README.md\n";
}

}  // namespace

void add_help_export_commands(CLI::App& app, std::string version) {
  auto shell = std::make_shared<std::string>();
  CLI::App* c = app.add_subcommand("completion", "Print the shell completion script: bash or zsh");
  c->add_option("shell", *shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  c->callback([&app, shell] {
    if (*shell == "bash")
      write_bash(app, std::cout);
    else
      write_zsh(app, std::cout);
  });
  CLI::App* m = app.add_subcommand("manpage", "Print the ipsx(1) manual page (roff)");
  m->group("");  // for the build, not for people
  m->callback([&app, version] { write_man(app, version, std::cout); });
}

}  // namespace ipsx::cli
