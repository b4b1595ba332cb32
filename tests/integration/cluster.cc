#include "tests/integration/cluster.h"

#include "tests/catch.h"
#include <unistd.h>

#include <filesystem>
#include <set>
#include <sstream>

#include "tests/integration/process_runner.h"
#include "tests/temp_dir.h"

namespace aimass::testing {
namespace {

namespace fs = std::filesystem;

// Runs scripts/cluster.sh with `args`; its output when it fails.
ProcessResult RunScript(const std::string& script, std::vector<std::string> args) {
  TempDir logs;
  args.insert(args.begin(), script);
  return Run(args, logs.path(), std::chrono::seconds(60));
}

// Clusters of test processes that are gone (killed at a time limit, crashed) are removed:
// their namespaces and bridges would otherwise pile up across test runs.
void RemoveClustersOfEndedTests(const std::string& script) {
  std::error_code ignored;
  std::set<std::string> stale;
  for (const auto& entry : fs::directory_iterator("/run/netns", ignored)) {
    const std::string name = entry.path().filename().string();  // itPID-hN
    const size_t dash = name.find("-h");
    if (name.rfind("it", 0) != 0 || dash == std::string::npos) continue;
    const std::string pid = name.substr(2, dash - 2);
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    if (!fs::exists("/proc/" + pid, ignored)) stale.insert(name.substr(0, dash));
  }
  for (const std::string& cluster : stale) (void)RunScript(script, {"down", "--name", cluster});
}

}  // namespace

Cluster::Cluster(uint32_t hosts) : name_("it" + std::to_string(::getpid())) {
  if (::geteuid() != 0) {
    FAIL("multi-host tests build hosts from network namespaces and need root "
         "(scripts/test.sh runs them as root in CI)");
  }
  RemoveClustersOfEndedTests(Script());
  ProcessResult up = RunScript(Script(), {"up", std::to_string(hosts), "--name", name_});
  INFO("cluster.sh up:\n" << up.out << up.err);
  REQUIRE(up.exit_code == 0);
  state_dir_ = up.out.substr(0, up.out.find_last_of('/'));
}

Cluster::~Cluster() {
  ProcessResult down = RunScript(Script(), {"down", "--name", name_});
  if (down.exit_code != 0) WARN("cluster.sh down failed:\n" << down.out << down.err);
}

std::string Cluster::Script() const { return std::string(AIMASS_SOURCE_DIR) + "/scripts/cluster.sh"; }

std::string Cluster::HostName(uint32_t host) const { return name_ + "-h" + std::to_string(host); }

std::string Cluster::Address(uint32_t host) const {
  std::istringstream hosts(ReadText(state_dir_ + "/hosts"));
  std::string address, name;
  while (hosts >> address >> name) {
    if (name == HostName(host)) return address;
  }
  return "";
}

std::string Cluster::hostfile() const { return state_dir_ + "/hostfile"; }

std::string Cluster::hostfile_all() const { return state_dir_ + "/hostfile-all"; }

std::vector<std::string> Cluster::On(uint32_t host, const std::vector<std::string>& argv) const {
  std::vector<std::string> on = {Script(), "exec", HostName(host), "--name", name_, "--"};
  on.insert(on.end(), argv.begin(), argv.end());
  return on;
}

void Cluster::SetLink(uint32_t host, bool up) const {
  ProcessResult result =
      RunScript(Script(), {"link", HostName(host), up ? "up" : "down", "--name", name_});
  INFO("cluster.sh link:\n" << result.out << result.err);
  REQUIRE(result.exit_code == 0);
}

}  // namespace aimass::testing
