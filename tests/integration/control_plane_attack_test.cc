// Hostile peers against a real job (docs/security.md): whatever anyone who can reach the
// coordinator's port does, the job ends as it would have, and nobody's process is signalled.
#include "tests/catch.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "common/aimass.pb.h"
#include "common/env.h"
#include "common/net/handshake.h"
#include "common/net/message_codec.h"
#include "tests/integration/job_fixture.h"
#include "tests/integration/process_runner.h"
#include "tests/temp_dir.h"

namespace aimass::testing {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace json = boost::json;
using asio::ip::tcp;
using std::chrono::seconds;

// ---------------------------------------------------------------- /proc

std::set<std::string> SocketInodes(pid_t pid) {
  std::set<std::string> inodes;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
    std::error_code unreadable;
    std::string target = fs::read_symlink(entry.path(), unreadable).string();
    if (!unreadable && target.rfind("socket:[", 0) == 0) {
      inodes.insert(target.substr(8, target.size() - 9));
    }
  }
  return inodes;
}

struct ListeningSocket {
  std::string address;  // dotted IPv4
  uint16_t port = 0;
  std::string inode;
};

// The IPv4 TCP socket `pid` listens on, from /proc/net/tcp, once there is one.
std::optional<ListeningSocket> ListeningSocketOf(pid_t pid) {
  std::set<std::string> owned = SocketInodes(pid);
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (state != "0A" || owned.count(inode) == 0) continue;
    uint32_t raw = static_cast<uint32_t>(std::stoul(local.substr(0, 8), nullptr, 16));  // host order
    ListeningSocket found;
    found.address = std::to_string(raw & 0xff) + "." + std::to_string((raw >> 8) & 0xff) + "." +
                    std::to_string((raw >> 16) & 0xff) + "." + std::to_string(raw >> 24);
    found.port = static_cast<uint16_t>(std::stoul(local.substr(9), nullptr, 16));
    found.inode = inode;
    return found;
  }
  return std::nullopt;
}

ListeningSocket WaitForListeningSocket(Process& job) {
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto found = ListeningSocketOf(job.pid())) return *found;
    REQUIRE(::kill(job.pid(), 0) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("the coordinator did not listen within 60 s");
  return {};
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = ReadText(entry.path().string() + "/stat");
    size_t end = stat.rfind(')');
    if (end == std::string::npos) continue;
    std::istringstream fields(stat.substr(end + 1));
    std::string state;
    long ppid = 0;
    if (fields >> state >> ppid && ppid == parent) children.push_back(std::stoi(name));
  }
  return children;
}

// Arguments of `pid` (NUL-separated in /proc).
std::vector<std::string> CommandLine(pid_t pid) {
  std::vector<std::string> args;
  std::string raw = ReadText("/proc/" + std::to_string(pid) + "/cmdline");
  for (size_t start = 0; start < raw.size();) {
    size_t end = raw.find('\0', start);
    if (end == std::string::npos) end = raw.size();
    args.push_back(raw.substr(start, end - start));
    start = end + 1;
  }
  return args;
}

// The coordinator's mpirun child, and the job id on its command line (as anyone on the host can
// read it: the id is no secret).
std::pair<pid_t, std::string> MpirunAndJobId(Process& job) {
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    for (pid_t child : ChildrenOf(job.pid())) {
      std::vector<std::string> args = CommandLine(child);
      for (size_t i = 0; i + 1 < args.size(); ++i) {
        if (args[i] == "--job-id") return {child, args[i + 1]};
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("no mpirun child with a --job-id within 60 s");
  return {};
}

// ---------------------------------------------------------------- hostile peers

struct Peer {
  asio::io_context io;
  tcp::socket socket{io};
  explicit Peer(uint16_t port) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
};

// A stranger that speaks the protocol but guesses the secret: it claims `rank` of `job_id` with
// `host` and `pid`. Returns the coordinator's answer: the refusal's reason, or "" when it was
// anything else (accepted, or no answer).
std::string ClaimWithoutTheSecret(uint16_t port, const std::string& job_id, uint32_t rank,
                                  uint32_t world_size, const std::string& host, uint32_t pid) {
  Peer peer(port);
  proto::CoordinatorMessage challenge;
  REQUIRE(net::ReadMessage(peer.socket, &challenge).ok());
  REQUIRE(challenge.has_auth_challenge());
  proto::WorkerMessage hello;
  auto* body = hello.mutable_hello();
  body->set_job_id(job_id);
  body->set_rank(rank);
  body->set_world_size(world_size);
  body->set_host(host);
  body->set_pid(pid);
  body->set_device("cpu");
  std::string nonce(net::kNonceBytes, 'n');
  std::string guess(net::kJobSecretBytes, 'g');
  body->set_nonce(nonce);
  body->set_proof(net::WorkerProof(
      guess, {job_id, rank, host, pid, challenge.auth_challenge().nonce(), nonce}));
  REQUIRE(net::WriteMessage(peer.socket, hello).ok());
  proto::CoordinatorMessage answer;
  if (!net::ReadMessage(peer.socket, &answer).ok()) return "";
  std::string reason = answer.has_shutdown() && answer.shutdown().abort() ? answer.shutdown().reason() : "";
  proto::CoordinatorMessage nothing_more;  // then the coordinator closes the connection
  CHECK_FALSE(net::ReadMessage(peer.socket, &nothing_more).ok());
  return reason;
}

json::object ReadSummary(const std::string& run_dir) {
  return json::parse(ReadText(run_dir + "/summary.json")).as_object();
}

TEST_CASE("hostile connections during training neither fail it nor change its result",
          "[integration][security]") {
  TempDir scratch;
  const std::string dir = scratch.path();
  JobSettings settings;  // 256 records, one epoch, seed 7
  fs::create_directories(dir + "/quiet");
  fs::create_directories(dir + "/attacked");
  ProcessResult quiet = Run(LocalTrain(WriteJob(dir + "/quiet", settings, dir + "/quiet/run"), 2), dir);
  INFO("undisturbed run:\n" << quiet.out << quiet.err);
  REQUIRE(quiet.exit_code == 0);

  Process running(LocalTrain(WriteJob(dir + "/attacked", settings, dir + "/attacked/run"), 2), dir);
  ListeningSocket listening = WaitForListeningSocket(running);
  CHECK(listening.address == "127.0.0.1");  // the single-host form listens on loopback only

  // (a) connect and close
  { Peer closes(listening.port); }
  // (b) a 4 GiB length header and garbage
  {
    Peer flood(listening.port);
    std::string garbage = std::string(4, '\xff') + std::string(4096, '\x42');
    boost::system::error_code ignored;  // the coordinator may close before it is all written
    asio::write(flood.socket, asio::buffer(garbage), ignored);
  }
  // (c) a silent connection, held open for the whole job
  Peer silent(listening.port);
  // (d) a fake worker with the right job id and a wrong secret
  auto [mpirun, job_id] = MpirunAndJobId(running);
  std::string refusal = ClaimWithoutTheSecret(listening.port, job_id, 0, 2, LocalHostName(), 4242);
  CHECK(refusal == "wrong or missing job secret (AIMASS_JOB_SECRET)");
  // (e) a Hello whose job id and host hold a forged log line (finding 8 of the second hardening
  // round: they were logged raw, and the forged line stood on its own in the job's log)
  const std::string forged = "aimass: job succeeded: FORGED";
  std::string wrong_job = ClaimWithoutTheSecret(listening.port, "x\n" + forged, 0, 2, "h\r\n" + forged, 4243);
  CHECK(wrong_job.find("x\\n" + forged) != std::string::npos);

  // The child mpirun (and the workers it starts) does not hold the listening socket.
  CHECK(SocketInodes(mpirun).count(listening.inode) == 0);
  for (pid_t worker : ChildrenOf(mpirun)) CHECK(SocketInodes(worker).count(listening.inode) == 0);

  ProcessResult attacked = running.Wait(seconds(300));
  INFO("attacked run:\n" << attacked.out << attacked.err);
  REQUIRE(attacked.exit_code == 0);
  CHECK(attacked.out.find("over the limit of 65536") != std::string::npos);
  CHECK(attacked.out.find("claiming rank 0, host " + LocalHostName() +
                          ", pid 4242: wrong or missing job secret") != std::string::npos);
  CHECK(attacked.out.find("refused a worker of job 'x\\n" + forged + "' (rank 0, host h\\r\\n" + forged) !=
        std::string::npos);
  CHECK(("\n" + attacked.out).find("\n" + forged) == std::string::npos);  // never a line of its own
  // The same result as without them: same weights, same test accuracy.
  CHECK(MaxParameterDifference("mlp", dir + "/quiet/run/model.pt", dir + "/attacked/run/model.pt") ==
        0.0);
  CHECK(ReadSummary(dir + "/attacked/run").at("test_accuracy").as_double() ==
        ReadSummary(dir + "/quiet/run").at("test_accuracy").as_double());
}

// OMPI_COMM_WORLD_RANK from the environment of `pid`: which rank a worker process is.
std::optional<uint32_t> WorkerRank(pid_t pid) {
  std::string environment = ReadText("/proc/" + std::to_string(pid) + "/environ");
  const std::string key = std::string("OMPI_COMM_WORLD_RANK=");
  size_t at = environment.find(key);
  if (at == std::string::npos) return std::nullopt;
  return static_cast<uint32_t>(std::stoul(environment.substr(at + key.size())));
}

TEST_CASE("under inference, a stranger claiming a lost rank gets nothing and signals nothing",
          "[integration][security]") {
  TempDir scratch;
  Fixture fixture = MakeFixture(scratch.path(), FixtureSize{20000, 40, 256, 3});
  std::string job = fixture.dir + "/infer.yaml";
  WriteText(job, "model: " + fixture.model + "\n" + "input: {path: " + fixture.table +
                     ", format: csv, header: true}\n" + "schema: {id: id, features: f0..f15}\n" +
                     "output: {path: " + fixture.dir + "/out}\n" + "inference: {batch_size: 32}\n");
  // A process of the user's own that the stranger will name as "its" pid.
  pid_t bystander = ::fork();
  REQUIRE(bystander >= 0);
  if (bystander == 0) {
    ::execlp("sleep", "sleep", "300", static_cast<char*>(nullptr));
    std::_Exit(127);
  }

  Process running({CoordinatorBinary(), "infer", "--config", job, "--workers", "2"}, scratch.path());
  ListeningSocket listening = WaitForListeningSocket(running);
  auto [mpirun, job_id] = MpirunAndJobId(running);
  // Wait for both workers to run, then kill one.
  std::vector<pid_t> workers;
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    workers.clear();
    for (pid_t child : ChildrenOf(mpirun)) {
      if (WorkerRank(child)) workers.push_back(child);
    }
    if (workers.size() == 2 && ListeningSocketOf(running.pid())) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(workers.size() == 2);
  // Both have said hello and work once parts are committed.
  auto committed = [&] {
    size_t parts = 0;
    std::error_code ignored;
    for (const auto& entry : fs::directory_iterator(fixture.dir + "/out", ignored)) {
      if (entry.path().filename().string().rfind("part-", 0) == 0) ++parts;
    }
    return parts;
  };
  deadline = std::chrono::steady_clock::now() + seconds(120);
  while (committed() < 1 && std::chrono::steady_clock::now() < deadline) {
    REQUIRE(::kill(running.pid(), 0) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(committed() >= 1);
  std::optional<uint32_t> lost_rank = WorkerRank(workers.back());
  REQUIRE(lost_rank.has_value());
  // The survivor is held still meanwhile, so the job cannot finish before the stranger comes
  // (a fast machine scores the whole table in about a second).
  REQUIRE(::kill(workers.front(), SIGSTOP) == 0);
  REQUIRE(::kill(workers.back(), SIGKILL) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the coordinator writes it off

  std::string refusal;
  std::string connect_error;
  try {
    refusal = ClaimWithoutTheSecret(listening.port, job_id, *lost_rank, 2, LocalHostName(),
                                    static_cast<uint32_t>(bystander));
  } catch (const std::exception& error) {
    connect_error = error.what();
  }
  REQUIRE(::kill(workers.front(), SIGCONT) == 0);
  ProcessResult result = running.Wait(seconds(300));
  INFO("stdout:\n" << result.out << "\nstderr:\n" << result.err);
  REQUIRE(connect_error == "");
  CHECK(refusal == "wrong or missing job secret (AIMASS_JOB_SECRET)");
  CHECK(result.exit_code == 0);
  CHECK(result.out.find("claiming rank " + std::to_string(*lost_rank)) != std::string::npos);
  // The bystander was not signalled: it still runs.
  int status = 0;
  CHECK(::waitpid(bystander, &status, WNOHANG) == 0);
  ::kill(bystander, SIGKILL);
  ::waitpid(bystander, &status, 0);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

}  // namespace
}  // namespace aimass::testing
