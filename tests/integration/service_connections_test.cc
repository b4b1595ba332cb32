// The service's connections over real HTTP, against a real `aimass-coordinator serve`:
//   - a server killed with SIGKILL while a job and a serving replica run is restarted at once on
//     the same port, 20 times out of 20: no child of the server holds the API's socket, every
//     descriptor of the server is close-on-exec, and the recovery has ended the killed job's
//     processes before the new server listens;
//   - more idle and half-sent connections than the cap do not lock out an authenticated client,
//     and an idle connection is closed after a few seconds;
//   - failed tokens from one address are answered 429 with Retry-After after the limit, while a
//     right token from another address is served; one warning line per interval.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include "tests/catch.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/http_client.h"
#include "tests/integration/job_fixture.h"
#include "tests/integration/process_runner.h"
#include "tests/integration/service_fixture.h"
#include "tests/temp_dir.h"

namespace aimass::testing {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using std::chrono::seconds;
using tcp = net::ip::tcp;

uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t size = sizeof address;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

bool IsNumber(const std::string& name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), ::isdigit);
}

// Every live descendant of `root` (children of children too: mpirun's workers).
std::vector<pid_t> Descendants(pid_t root) {
  std::multimap<pid_t, pid_t> children;  // parent -> child
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (!IsNumber(name)) continue;
    const std::string stat = ReadText(entry.path().string() + "/stat");
    const size_t end_of_name = stat.rfind(')');
    if (end_of_name == std::string::npos) continue;
    std::istringstream fields(stat.substr(end_of_name + 1));
    std::string state;
    pid_t parent = 0;
    if (fields >> state >> parent && state != "Z") children.emplace(parent, static_cast<pid_t>(std::stol(name)));
  }
  std::vector<pid_t> found = {root};
  for (size_t next = 0; next < found.size(); ++next) {
    auto [first, last] = children.equal_range(found[next]);
    for (auto it = first; it != last; ++it) found.push_back(it->second);
  }
  found.erase(found.begin());
  return found;
}

// The inode of the socket listening on 127.0.0.1:`port` (/proc/net/tcp), 0 when none.
unsigned long ListeningInode(uint16_t port) {
  std::istringstream table(ReadText("/proc/net/tcp"));
  std::string line;
  std::getline(table, line);  // the header
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, "0100007F:%04X", port);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
    if (local == wanted && state == "0A") return inode;
  }
  return 0;
}

bool HoldsSocket(pid_t pid, unsigned long inode) {
  const std::string wanted = "socket:[" + std::to_string(inode) + "]";
  std::error_code error;
  for (const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
    std::error_code unreadable;
    if (fs::read_symlink(entry.path(), unreadable).string() == wanted) return true;
  }
  return false;
}

// The descriptors above 2 of `pid` that a child it starts would inherit (no close-on-exec in
// /proc/PID/fdinfo's flags), each as "FD -> TARGET".
std::set<std::string> InheritableDescriptors(const std::string& pid) {
  std::set<std::string> found;
  const std::string base = "/proc/" + pid;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(base + "/fdinfo", error)) {
    const std::string fd = entry.path().filename().string();
    if (!IsNumber(fd) || std::stoi(fd) <= 2) continue;
    std::istringstream info(ReadText(entry.path().string()));
    std::string key;
    std::string flags;
    while (info >> key) {
      if (key == "flags:") {
        info >> flags;
        break;
      }
    }
    if (flags.empty() || (std::stoul(flags, nullptr, 8) & 02000000) != 0) continue;  // O_CLOEXEC
    std::error_code unreadable;
    found.insert(fd + " -> " + fs::read_symlink(base + "/fd/" + fd, unreadable).string());
  }
  return found;
}

// Those of the server's that it opened itself: not the ones this test process handed down to
// it when it started the server (the same number and target, inheritable here too: a CI
// runner's or a shell's descriptors pass through every process it starts).
std::set<std::string> OpenedInheritable(pid_t pid) {
  std::set<std::string> opened;
  const std::set<std::string> handed_down = InheritableDescriptors("self");
  for (const std::string& descriptor : InheritableDescriptors(std::to_string(pid))) {
    if (handed_down.count(descriptor) == 0) opened.insert(descriptor);
  }
  return opened;
}

// Those inheritable in each of three looks, 50 ms apart: a descriptor opened and closed at once
// by a library between two of them is not what this is about; a listening socket or a log is.
std::set<std::string> LastingInheritableDescriptors(pid_t pid) {
  std::set<std::string> lasting = OpenedInheritable(pid);
  for (int look = 0; look < 2; ++look) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::set<std::string> now = OpenedInheritable(pid);
    std::set<std::string> both;
    std::set_intersection(lasting.begin(), lasting.end(), now.begin(), now.end(), std::inserter(both, both.end()));
    lasting = both;
  }
  return lasting;
}

// Live processes whose command line has `text`.
std::vector<pid_t> ProcessesNaming(const std::string& text) {
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (!IsNumber(name)) continue;
    if (ReadText(entry.path().string() + "/cmdline").find(text) != std::string::npos &&
        !ProcessEnded(static_cast<uint32_t>(std::stoul(name)))) {
      pids.push_back(static_cast<pid_t>(std::stol(name)));
    }
  }
  return pids;
}

template <class Predicate>
bool WaitFor(Predicate ready, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return ready();
}

// `serve` on a fixed port: `listening` once it said so, false when it exited instead (its
// stderr then says why).
struct PortServer {
  PortServer(const std::string& state_dir, uint16_t port, const std::string& log_dir) {
    process = std::make_unique<Process>(std::vector<std::string>{CoordinatorBinary(), "serve", "--state-dir", state_dir,
                                                                 "--data-root", DataRoot(), "--listen",
                                                                 "127.0.0.1:" + std::to_string(port)},
                                        log_dir);
    const std::string serving = "serving http://127.0.0.1:" + std::to_string(port) + "/";
    WaitFor([&] {
      if (process->OutputSoFar().find(serving) != std::string::npos) return listening = true;
      return ProcessEnded(static_cast<uint32_t>(process->pid()));
    }, seconds(60));
    if (!listening) {
      ProcessResult result = process->Wait(seconds(10));
      why = result.err + result.out;
    }
  }
  pid_t pid() const { return process->pid(); }

  std::unique_ptr<Process> process;
  bool listening = false;
  std::string why;
};

std::string AdminToken(const std::string& state_dir) {
  std::string token = ReadText(state_dir + "/admin.token");
  while (!token.empty() && token.back() == '\n') token.pop_back();
  return token;
}

json::value CallJson(uint16_t port, const std::string& token, const std::string& method, const std::string& target,
                     int expected, const std::string& body = "") {
  HttpReply reply = HttpCall(port, method, target, body, token);
  INFO(method << " " << target << " -> " << reply.status << " " << reply.error << " " << reply.body);
  REQUIRE(reply.status == expected);
  return json::parse(reply.body);
}

// One GET from the local address `source` (127.0.0.0/8 all reach the server on 127.0.0.1), so
// that the server sees several clients: its status, Retry-After and body.
struct Answer {
  int status = 0;
  std::string retry_after;
  std::string body;
};

Answer GetFrom(const std::string& source, uint16_t port, const std::string& target, const std::string& token) {
  net::io_context io;
  tcp::socket socket(io);
  socket.open(tcp::v4());
  socket.bind(tcp::endpoint(net::ip::make_address(source), 0));
  auto request = std::make_shared<bhttp::request<bhttp::empty_body>>(bhttp::verb::get, target, 11);
  request->set(bhttp::field::host, "127.0.0.1");
  request->set(bhttp::field::connection, "close");
  if (!token.empty()) request->set(bhttp::field::authorization, "Bearer " + token);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> response;
  Answer answer;
  socket.async_connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port), [&](boost::system::error_code error) {
    if (error) return;
    bhttp::async_write(socket, *request, [&](boost::system::error_code write_error, size_t) {
      if (write_error) return;
      bhttp::async_read(socket, buffer, response, [&](boost::system::error_code read_error, size_t) {
        if (read_error) return;
        answer.status = static_cast<int>(response.result_int());
        answer.body = response.body();
        auto retry = response.find(bhttp::field::retry_after);
        if (retry != response.end()) answer.retry_after = std::string(retry->value());
      });
    });
  });
  io.run_for(seconds(20));
  return answer;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t count = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

}  // namespace

TEST_CASE("service: SIGKILL with a job and a serving replica running, then an immediate restart on "
          "the same port, 20 times out of 20; no child holds the API's socket",
          "[service][connections]") {
  TempDir dir;
  const std::string state = dir.Path("state");
  const uint16_t port = FreePort();
  std::vector<std::unique_ptr<PortServer>> servers;
  servers.push_back(std::make_unique<PortServer>(state, port, dir.path()));
  REQUIRE(servers.back()->listening);
  const std::string admin = AdminToken(state);

  // A registered model served by one replica, and a long job: both children of the server.
  const int64_t trained = CallJson(port, admin, "POST", "/api/v1/jobs", 201,
                                   JobBody("train", TrainYaml(1), 2, "conn")).at("id").as_int64();
  REQUIRE(WaitFor([&] {
    return CallJson(port, admin, "GET", "/api/v1/jobs/" + std::to_string(trained), 200).at("state") == "succeeded";
  }, seconds(240)));
  CallJson(port, admin, "PUT", "/api/v1/models/conn/aliases/production", 200, R"({"version": 1})");
  CallJson(port, admin, "PUT", "/api/v1/models/conn/serving", 200, R"({"replicas": 1, "threads": 1})");
  const int64_t running = CallJson(port, admin, "POST", "/api/v1/jobs", 201,
                                   JobBody("train", TrainYaml(1000), 2)).at("id").as_int64();
  REQUIRE(WaitFor([&] {
    json::value job = CallJson(port, admin, "GET", "/api/v1/jobs/" + std::to_string(running), 200);
    return job.at("state") == "running" && !job.at("progress").is_null();
  }, seconds(240)));
  const std::string replica_tag = "serve-conn-v1-";
  REQUIRE(WaitFor([&] { return !ProcessesNaming(replica_tag).empty(); }, seconds(60)));

  // Nothing the server started holds its listening socket (before the fix mpirun, every worker
  // and the replica did), and the server has no descriptor a child would inherit.
  const unsigned long inode = ListeningInode(port);
  REQUIRE(inode != 0);
  const std::vector<pid_t> children = Descendants(servers.back()->pid());
  REQUIRE(children.size() >= 4);  // mpirun, two workers, the replica
  for (pid_t child : children) {
    INFO("child " << child << ": " << ReadText("/proc/" + std::to_string(child) + "/cmdline"));
    CHECK_FALSE(HoldsSocket(child, inode));
  }
  for (const std::string& leak : LastingInheritableDescriptors(servers.back()->pid())) {
    FAIL_CHECK("the server's descriptor " << leak << " is not close-on-exec");
  }

  // 20 kills with SIGKILL, each followed at once by a restart on the same port. The first
  // kill leaves the job's processes behind: the restart ends them (and waits for them) before
  // it listens. Every later server starts the served model's replica again, and is killed once
  // that replica runs.
  int listened = 1;
  std::set<pid_t> started;  // every process the servers started (by pid, not by a job tag that
                            // another test's job of the same id would share)
  for (int restart = 1; restart <= 20 && servers.back()->listening; ++restart) {
    PortServer& killed = *servers.back();
    const std::vector<pid_t> left_behind = Descendants(killed.pid());
    started.insert(left_behind.begin(), left_behind.end());
    ::kill(killed.pid(), SIGKILL);
    killed.process->Wait(seconds(30));
    servers.push_back(std::make_unique<PortServer>(state, port, dir.path()));
    PortServer& next = *servers.back();
    INFO("restart " << restart << ": " << next.why);
    CHECK(next.listening);
    if (!next.listening) break;
    ++listened;
    if (restart == 1) {
      // Recovery ended the interrupted job's processes before this server listened.
      for (pid_t pid : left_behind) {
        const std::string cmdline = ReadText("/proc/" + std::to_string(pid) + "/cmdline");
        if (cmdline.find("svc" + std::to_string(running) + "-") != std::string::npos) {
          FAIL_CHECK("job process " << pid << " still runs: " << cmdline);
        }
      }
    }
    if (restart == 20) break;
    REQUIRE(WaitFor([&] {
      for (pid_t child : Descendants(next.pid())) {
        if (ReadText("/proc/" + std::to_string(child) + "/cmdline").find(replica_tag) != std::string::npos) return true;
      }
      return false;
    }, seconds(60)));
    for (pid_t child : Descendants(next.pid())) CHECK_FALSE(HoldsSocket(child, ListeningInode(port)));
  }
  CHECK(listened == 21);

  // The last server answers, and stops cleanly; the killed servers' replicas have all left.
  CHECK(CallJson(port, admin, "GET", "/api/v1/models/conn", 200).at("versions").as_array().size() == 1);
  for (pid_t child : Descendants(servers.back()->pid())) started.insert(child);
  ::kill(servers.back()->pid(), SIGTERM);
  CHECK(servers.back()->process->Wait(seconds(90)).exit_code == 0);
  // (A replica whose server died before it connected gives up after its 60 s connect timeout.)
  CHECK(WaitFor([&] {
    return std::all_of(started.begin(), started.end(), [](pid_t pid) { return ProcessEnded(static_cast<uint32_t>(pid)); });
  }, seconds(90)));
}

TEST_CASE("service: more idle connections than the cap do not lock out an authenticated client; an "
          "idle connection is closed after a few seconds", "[service][connections]") {
  TempDir dir;
  Service service(dir.Path("state"));
  const auto endpoint = tcp::endpoint(net::ip::make_address("127.0.0.1"), service.port());
  net::io_context io;
  // 520 connections (the documented cap is 512): half say nothing, half send half a request
  // head and stop, as a slowloris client does.
  std::vector<tcp::socket> idle;
  for (int i = 0; i < 520; ++i) {
    idle.emplace_back(io);
    idle.back().connect(endpoint);
    if (i % 2 == 1) net::write(idle.back(), net::buffer(std::string("GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n")));
  }
  // A real client is served at once, with the idle ones still open.
  const auto started = std::chrono::steady_clock::now();
  HttpReply whoami = HttpCall(service.port(), "GET", "/api/v1/whoami", "", service.admin(), seconds(10));
  INFO(whoami.status << " " << whoami.error << " " << whoami.body);
  CHECK(whoami.status == 200);
  CHECK(std::chrono::steady_clock::now() - started < seconds(3));
  // So is one without a token, which is refused with its answer.
  CHECK(HttpCall(service.port(), "GET", "/api/v1/jobs", "", "", seconds(10)).status == 401);

  // The newest idle connection is closed by the server after its head deadline (seconds, not
  // the old 30 s).
  tcp::socket& newest = idle.back();
  const auto opened = std::chrono::steady_clock::now();
  bool closed = false;
  std::array<char, 64> chunk;
  newest.async_read_some(net::buffer(chunk), [&](boost::system::error_code error, size_t) { closed = bool(error); });
  io.run_for(seconds(15));
  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - opened < seconds(10));
  idle.clear();
  service.Signal(SIGTERM);
  ProcessResult exit = service.WaitForExit(seconds(60));
  CHECK(exit.exit_code == 0);
  // The connections given up for newer ones are said once per interval, not once each.
  CHECK(Count(exit.err, "HTTP connections at a cap") == 1);
}

TEST_CASE("service: failed tokens from one address are refused with 429 and Retry-After after the "
          "limit; a right token from another address is still served", "[service][connections]") {
  TempDir dir;
  Service service(dir.Path("state"));
  const uint16_t port = service.port();
  const std::string wrong = "aimass_" + std::string(64, '0');

  // The documented limit: 20 failures within a minute; each is a 401 until then.
  for (int i = 0; i < 20; ++i) {
    Answer answer = GetFrom("127.0.0.2", port, "/api/v1/whoami", wrong);
    INFO("attempt " << i << ": " << answer.status << " " << answer.body);
    REQUIRE(answer.status == 401);
  }
  Answer blocked = GetFrom("127.0.0.2", port, "/api/v1/whoami", wrong);
  CHECK(blocked.status == 429);
  CHECK(blocked.body.find("too_many_requests") != std::string::npos);
  REQUIRE_FALSE(blocked.retry_after.empty());
  CHECK(std::stoi(blocked.retry_after) >= 1);
  CHECK(std::stoi(blocked.retry_after) <= 60);
  // While blocked, a right token from that address is not even looked at.
  CHECK(GetFrom("127.0.0.2", port, "/api/v1/whoami", service.admin()).status == 429);
  // Another address is not affected: its right token is served, its wrong one is a 401.
  CHECK(GetFrom("127.0.0.1", port, "/api/v1/whoami", service.admin()).status == 200);
  CHECK(GetFrom("127.0.0.3", port, "/api/v1/whoami", wrong).status == 401);
  // Public routes and requests without a token are no token attempts.
  CHECK(GetFrom("127.0.0.2", port, "/healthz", "").status == 200);
  CHECK(GetFrom("127.0.0.2", port, "/api/v1/whoami", "").status == 401);

  // A second address blocked within the same minute: no second warning line.
  for (int i = 0; i < 20; ++i) GetFrom("127.0.0.4", port, "/api/v1/whoami", wrong);
  CHECK(GetFrom("127.0.0.4", port, "/api/v1/whoami", wrong).status == 429);
  service.Signal(SIGTERM);
  ProcessResult exit = service.WaitForExit(seconds(60));
  CHECK(exit.exit_code == 0);
  CHECK(Count(exit.err, "failed token attempts from") == 1);
  CHECK(exit.err.find("20 failed token attempts from 127.0.0.2") != std::string::npos);
}

}  // namespace aimass::testing
