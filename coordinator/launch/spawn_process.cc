#include "coordinator/launch/spawn_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include <cstring>

extern char** environ;

namespace aimass::coordinator {
namespace {

std::string NameOf(const std::string& entry) { return entry.substr(0, entry.find('=') + 1); }

bool Names(const std::vector<std::string>& entries, const std::string& name) {
  for (const std::string& entry : entries) {
    if (NameOf(entry) == name) return true;
  }
  return false;
}

}  // namespace

Result<pid_t> SpawnProcessGroup(const SpawnOptions& options) {
  std::vector<std::string> args = options.args;
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::vector<std::string> environment;
  std::vector<std::string> inherited_names;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string variable = *entry;
    const std::string name = NameOf(variable);
    inherited_names.push_back(name);
    if (!Names(options.set_environment, name)) environment.push_back(std::move(variable));
  }
  for (const std::string& entry : options.default_environment) {
    const std::string name = NameOf(entry);
    bool inherited = false;
    for (const std::string& known : inherited_names) inherited |= known == name;
    if (!inherited && !Names(options.set_environment, name)) environment.push_back(entry);
  }
  environment.insert(environment.end(), options.set_environment.begin(), options.set_environment.end());
  std::vector<char*> envp;
  for (std::string& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  if (!options.log_path.empty()) {
    posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&files, 1, options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    posix_spawn_file_actions_adddup2(&files, 1, 2);
  }
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  pid_t pid = -1;
  const int error = options.search_path
                        ? ::posix_spawnp(&pid, options.program.c_str(), &files, &attributes, argv.data(), envp.data())
                        : ::posix_spawn(&pid, options.program.c_str(), &files, &attributes, argv.data(), envp.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&files);
  if (error != 0) return Status::Unavailable("cannot start " + options.program + ": " + std::strerror(error));
  return pid;
}

}  // namespace aimass::coordinator
