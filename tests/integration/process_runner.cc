#include "tests/integration/process_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace aimass::testing {

namespace fs = std::filesystem;

Process::Process(const std::vector<std::string>& argv, const std::string& log_dir) {
  static std::atomic<int> counter{0};
  int id = counter++;
  out_path_ = log_dir + "/process-" + std::to_string(id) + ".out";
  err_path_ = log_dir + "/process-" + std::to_string(id) + ".err";
  std::vector<char*> args;
  std::vector<std::string> copy = argv;
  for (auto& arg : copy) args.push_back(arg.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  start_ = std::chrono::steady_clock::now();
  int error = posix_spawnp(&pid_, args[0], &actions, &attributes, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) throw std::runtime_error("cannot start " + argv[0]);
}

Process::~Process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

std::string Process::OutputSoFar() const { return ReadText(out_path_); }

ProcessResult Process::Wait(std::chrono::seconds limit) {
  ProcessResult result;
  auto deadline = start_ + limit;
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      reaped_ = true;
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      reaped_ = true;
      result.exit_code = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Whatever the process group left running (mpirun's children) goes too.
  ::kill(-pid_, SIGKILL);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  result.out = ReadText(out_path_);
  result.err = ReadText(err_path_);
  return result;
}

ProcessResult Run(const std::vector<std::string>& argv, const std::string& log_dir,
                  std::chrono::seconds limit) {
  Process process(argv, log_dir);
  return process.Wait(limit);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string ReadGzipText(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw std::runtime_error("cannot open " + path);
  std::string text;
  char buffer[1 << 16];
  int got = 0;
  while ((got = gzread(file, buffer, sizeof(buffer))) > 0) text.append(buffer, static_cast<size_t>(got));
  const bool failed = got < 0;
  gzclose(file);
  if (failed) throw std::runtime_error("corrupt gzip " + path);
  return text;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string CoordinatorBinary() { return std::string(AIMASS_BIN_DIR) + "/aimass-coordinator"; }
std::string WorkerBinary() { return std::string(AIMASS_BIN_DIR) + "/aimass-worker"; }

std::vector<std::string> MpirunPrefix() {
  std::vector<std::string> prefix = {"mpirun", "--oversubscribe", "--bind-to", "none"};
  if (::geteuid() == 0) prefix.push_back("--allow-run-as-root");
  return prefix;
}

std::string PythonWithTorch() {
  return fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}

}  // namespace aimass::testing
