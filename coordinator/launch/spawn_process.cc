#include "coordinator/launch/spawn_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

extern char** environ;

namespace aimass::coordinator {
namespace {

// Closes, in the child, every descriptor from 3 up. glibc 2.34 and later do it in the spawned
// child with close_range(3, ~0U, 0) and, when that fails (a kernel before 5.9, a seccomp
// policy that refuses it), with a loop over /proc/self/fd (sysdeps/unix/sysv/linux/spawni.c,
// __closefrom_fallback); the spawn fails if neither works, rather than leak. An older C
// library gets the descriptors open now, read from /proc/self/fd here, closed one by one in
// the child: one opened after this look by another thread is not, but every descriptor this
// process opens is close-on-exec anyway.
int AddCloseAboveStandard(posix_spawn_file_actions_t* files) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
  return posix_spawn_file_actions_addclosefrom_np(files, 3);
#else
  DIR* directory = ::opendir("/proc/self/fd");
  if (directory == nullptr) return errno;
  const int own = ::dirfd(directory);
  int error = 0;
  while (dirent* entry = ::readdir(directory)) {
    char* end = nullptr;
    const long fd = std::strtol(entry->d_name, &end, 10);
    if (end == entry->d_name || *end != '\0' || fd <= 2 || fd == own) continue;
    if ((error = posix_spawn_file_actions_addclose(files, static_cast<int>(fd))) != 0) break;
  }
  ::closedir(directory);
  return error;
#endif
}

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
  if (const int error = AddCloseAboveStandard(&files); error != 0) {
    posix_spawn_file_actions_destroy(&files);
    return Status::Unavailable("cannot start " + options.program + ": " + std::strerror(error));
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
