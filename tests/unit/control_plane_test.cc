// The coordinator's hub and the workers' client, talking over loopback inside one process:
// messages, the authenticating handshake, and what the hub does with hostile connections.
#include "tests/catch.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "common/aimass.pb.h"
#include "common/env.h"
#include "common/net/handshake.h"
#include "common/net/message_codec.h"
#include "coordinator/launch/local_mpirun_launcher.h"
#include "coordinator/launch/process_tree.h"
#include "coordinator/worker_hub.h"
#include "coordinator/worker_roster.h"
#include "worker/control_client.h"

namespace aimass {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using coordinator::HubEvent;
using coordinator::HubOptions;
using coordinator::WorkerHub;
using worker::ControlClient;

const std::string kJobId = "job-under-test";
const std::string kSecret(net::kJobSecretBytes, '\x5a');

std::unique_ptr<WorkerHub> StartHub(HubOptions options = {}) {
  options.job_id = kJobId;
  if (options.secret.empty()) options.secret = kSecret;
  auto hub = WorkerHub::Start(options);
  REQUIRE(hub.ok());
  return std::move(hub).value();
}

HubEvent NextEvent(WorkerHub& hub) {
  auto event = hub.NextEvent(std::chrono::seconds(10));
  REQUIRE(event.has_value());
  return *event;
}

struct LostLog {
  std::mutex mutex;
  std::vector<std::string> reasons;
  ControlClient::LostHandler Handler() {
    return [this](const std::string& reason, bool aborted) {
      std::lock_guard<std::mutex> lock(mutex);
      reasons.push_back((aborted ? "aborted: " : "lost: ") + reason);
    };
  }
};

proto::WorkerMessage HelloFor(uint32_t rank) {
  proto::WorkerMessage hello;
  hello.mutable_hello()->set_job_id(kJobId);
  hello.mutable_hello()->set_rank(rank);
  hello.mutable_hello()->set_world_size(3);
  hello.mutable_hello()->set_host("host-" + std::to_string(rank));
  hello.mutable_hello()->set_pid(1000 + rank);
  return hello;
}

// A client connected to `hub` that has authenticated and said hello as `rank`.
std::unique_ptr<ControlClient> Greet(WorkerHub& hub, LostLog& lost, uint32_t rank) {
  auto client = ControlClient::Connect("127.0.0.1:" + std::to_string(hub.port()),
                                       std::chrono::seconds(5), lost.Handler());
  REQUIRE(client.ok());
  Status authenticated = (*client)->Authenticate(HelloFor(rank), kSecret, std::chrono::seconds(10));
  INFO(authenticated.message());
  REQUIRE(authenticated.ok());
  return std::move(client).value();
}

// The next notice (a turned-away connection) within 10 s; other events are skipped.
std::string NextNotice(WorkerHub& hub) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto event = hub.NextEvent(std::chrono::milliseconds(100));
    if (event && event->kind == HubEvent::Kind::kNotice) return event->reason;
  }
  return "";
}

// A plain TCP connection to the hub: what anyone on the network can open.
struct RawPeer {
  asio::io_context io;
  tcp::socket socket{io};
  explicit RawPeer(uint16_t port) {
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }
  // The hub's first frame: its challenge.
  std::string ReadChallenge() {
    proto::CoordinatorMessage message;
    REQUIRE(net::ReadMessage(socket, &message).ok());
    REQUIRE(message.has_auth_challenge());
    return message.auth_challenge().nonce();
  }
  // True once the hub has closed the connection (reads end), within the socket's life.
  bool ClosedByHub() {
    char byte;
    boost::system::error_code error;
    while (!error) socket.read_some(asio::buffer(&byte, 1), error);
    return error == asio::error::eof || error == asio::error::connection_reset;
  }
};

// Whether the socket listening on `port` (in this process) is close-on-exec: found by its inode
// in /proc/net/tcp, then among /proc/self/fd.
std::optional<bool> ListeningSocketIsCloseOnExec(uint16_t port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // header
  std::string inode;
  char wanted[8];
  std::snprintf(wanted, sizeof(wanted), ":%04X", port);
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, node;
    fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> node;
    if (state == "0A" && local.size() > 5 && local.substr(local.size() - 5) == wanted) inode = node;
  }
  if (inode.empty()) return std::nullopt;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    auto target = std::filesystem::read_symlink(entry.path(), error);
    if (error || target.string() != "socket:[" + inode + "]") continue;
    int fd = std::stoi(entry.path().filename().string());
    return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
  }
  return std::nullopt;
}

TEST_CASE("workers say hello and receive their plans", "[control]") {
  auto hub = StartHub();
  LostLog lost;
  std::vector<std::unique_ptr<ControlClient>> clients;
  for (uint32_t rank = 0; rank < 3; ++rank) clients.push_back(Greet(*hub, lost, rank));

  std::map<uint32_t, coordinator::ConnectionId> connection_of_rank;
  for (int i = 0; i < 3; ++i) {
    HubEvent event = NextEvent(*hub);
    REQUIRE(event.kind == HubEvent::Kind::kMessage);
    REQUIRE(event.message->has_hello());
    connection_of_rank[event.message->hello().rank()] = event.connection;
  }
  REQUIRE(connection_of_rank.size() == 3);

  for (uint32_t rank = 0; rank < 3; ++rank) {
    proto::CoordinatorMessage plan;
    plan.mutable_epoch_plan()->set_epoch(rank + 10);
    REQUIRE(hub->Send(connection_of_rank[rank], plan).ok());
  }
  for (uint32_t rank = 0; rank < 3; ++rank) {
    auto message = clients[rank]->Receive(std::chrono::seconds(10));
    REQUIRE(message.ok());
    CHECK((*message)->epoch_plan().epoch() == rank + 10);
  }
  CHECK(lost.reasons.empty());
}

TEST_CASE("a worker that goes away is reported as disconnected", "[control]") {
  auto hub = StartHub();
  LostLog lost;
  auto client = Greet(*hub, lost, 0);
  HubEvent first = NextEvent(*hub);
  REQUIRE(first.kind == HubEvent::Kind::kMessage);

  client.reset();
  HubEvent gone = NextEvent(*hub);
  CHECK(gone.kind == HubEvent::Kind::kDisconnected);
  CHECK(gone.connection == first.connection);
  CHECK(gone.reason == "connection closed");
}

TEST_CASE("an abort from the coordinator reaches the worker's handler", "[control]") {
  auto hub = StartHub();
  LostLog lost;
  auto client = Greet(*hub, lost, 0);
  HubEvent event = NextEvent(*hub);

  proto::CoordinatorMessage abort;
  abort.mutable_shutdown()->set_abort(true);
  abort.mutable_shutdown()->set_reason("worker rank 1 died");
  REQUIRE(hub->Send(event.connection, abort).ok());
  auto received = client->Receive(std::chrono::seconds(10));
  REQUIRE(received.ok());
  CHECK((*received)->shutdown().abort());
  std::lock_guard<std::mutex> lock(lost.mutex);
  REQUIRE(lost.reasons.size() == 1);
  CHECK(lost.reasons[0] == "aborted: job aborted by the coordinator: worker rank 1 died");
}

TEST_CASE("connecting to nobody fails within the timeout", "[control]") {
  auto hub = StartHub();
  uint16_t unused_port = hub->port();
  hub.reset();  // the port is closed again
  auto start = std::chrono::steady_clock::now();
  auto client = ControlClient::Connect("127.0.0.1:" + std::to_string(unused_port),
                                       std::chrono::seconds(1), nullptr);
  REQUIRE_FALSE(client.ok());
  CHECK(client.status().message().find("cannot reach the coordinator") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

TEST_CASE("heartbeats carry the worker's step", "[control]") {
  auto hub = StartHub();
  LostLog lost;
  auto client = Greet(*hub, lost, 0);
  REQUIRE(NextEvent(*hub).message->has_hello());
  client->SetProgress(42);
  client->StartHeartbeat(std::chrono::milliseconds(100));
  HubEvent event = NextEvent(*hub);
  REQUIRE(event.kind == HubEvent::Kind::kMessage);
  REQUIRE(event.message->has_heartbeat());
  CHECK(event.message->heartbeat().step() == 42);
}

// ---------------------------------------------------------------- authentication

TEST_CASE("MACs compare in constant time and only when equal", "[control][auth]") {
  std::string mac(net::kProofBytes, 'a');
  CHECK(net::ProofsEqual(mac, mac));
  std::string last_differs = mac;
  last_differs.back() = 'b';
  CHECK_FALSE(net::ProofsEqual(mac, last_differs));
  CHECK_FALSE(net::ProofsEqual(mac, mac.substr(1)));
  CHECK_FALSE(net::ProofsEqual("", ""));  // no proof is never a valid one
}

TEST_CASE("a proof covers the job, the claim and both nonces, one label per direction",
          "[control][auth]") {
  net::HandshakeTranscript base{kJobId, 1, "host-1", 4242, std::string(32, 'c'), std::string(32, 'w')};
  const std::string proof = net::WorkerProof(kSecret, base);
  CHECK(proof.size() == net::kProofBytes);
  CHECK(net::WorkerProof(kSecret, base) == proof);  // deterministic
  auto changed = [&](auto change) {
    net::HandshakeTranscript other = base;
    change(other);
    return net::WorkerProof(kSecret, other);
  };
  CHECK(changed([](auto& t) { t.coordinator_nonce[0] = 'x'; }) != proof);
  CHECK(changed([](auto& t) { t.worker_nonce[0] = 'x'; }) != proof);
  CHECK(changed([](auto& t) { t.rank = 2; }) != proof);
  CHECK(changed([](auto& t) { t.pid = 4243; }) != proof);
  CHECK(changed([](auto& t) { t.host = "host-2"; }) != proof);
  CHECK(changed([](auto& t) { t.job_id = "other"; }) != proof);
  // Field boundaries count: moving a byte from one field to the next changes the proof.
  CHECK(changed([](auto& t) { t.job_id = "job-under-tes"; t.host = "thost-1"; }) != proof);
  CHECK(net::WorkerProof(std::string(32, 'z'), base) != proof);
  CHECK(net::CoordinatorProof(kSecret, base) != proof);  // not reflectable
}

TEST_CASE("the job secret is 256 random bits and travels as hex", "[control][auth]") {
  auto first = net::NewJobSecret();
  auto second = net::NewJobSecret();
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->size() == 32);
  CHECK(*first != *second);
  auto back = net::SecretFromHex(net::ToHex(*first));
  REQUIRE(back.ok());
  CHECK(*back == *first);
  CHECK_FALSE(net::SecretFromHex("abc").ok());
  CHECK_FALSE(net::SecretFromHex(std::string(64, 'g')).ok());
}

TEST_CASE("the handshake succeeds with the job secret and fails with another", "[control][auth]") {
  auto hub = StartHub();
  LostLog lost;
  auto good = Greet(*hub, lost, 0);
  HubEvent hello = NextEvent(*hub);
  REQUIRE(hello.kind == HubEvent::Kind::kMessage);
  CHECK(hello.message->hello().rank() == 0);

  auto bad = ControlClient::Connect("127.0.0.1:" + std::to_string(hub->port()),
                                    std::chrono::seconds(5), nullptr);
  REQUIRE(bad.ok());
  Status refused = (*bad)->Authenticate(HelloFor(1), std::string(32, 'w'), std::chrono::seconds(10));
  CHECK(refused.message() ==
        "the coordinator refused this worker: wrong or missing job secret (AIMASS_JOB_SECRET)");
  std::string notice = NextNotice(*hub);
  CHECK(notice.find("claiming rank 1, host host-1, pid 1001: wrong or missing job secret") !=
        std::string::npos);
  // No Hello of the refused one ever reaches the job, and the good worker is unaffected.
  proto::WorkerMessage heartbeat;
  heartbeat.mutable_heartbeat()->set_step(7);
  REQUIRE(good->Send(heartbeat).ok());
  HubEvent next = NextEvent(*hub);
  REQUIRE(next.kind == HubEvent::Kind::kMessage);
  CHECK(next.connection == hello.connection);
  CHECK(next.message->heartbeat().step() == 7);
}

TEST_CASE("a worker refuses a coordinator that cannot prove the secret", "[control][auth]") {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::thread impostor([&] {
    tcp::socket peer(io);
    acceptor.accept(peer);
    proto::CoordinatorMessage challenge;
    challenge.mutable_auth_challenge()->set_nonce(std::string(net::kNonceBytes, 'n'));
    REQUIRE(net::WriteMessage(peer, challenge).ok());
    proto::WorkerMessage hello;
    REQUIRE(net::ReadMessage(peer, &hello).ok());
    proto::CoordinatorMessage accepted;  // a guess: it does not know the secret
    accepted.mutable_auth_accepted()->set_proof(std::string(net::kProofBytes, 'p'));
    REQUIRE(net::WriteMessage(peer, accepted).ok());
    proto::WorkerMessage ignored;
    (void)net::ReadMessage(peer, &ignored);  // until the worker goes
  });
  auto client = ControlClient::Connect("127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()),
                                       std::chrono::seconds(5), nullptr);
  REQUIRE(client.ok());
  Status status = (*client)->Authenticate(HelloFor(0), kSecret, std::chrono::seconds(10));
  CHECK(status.message().find("did not prove that it holds this job's secret") != std::string::npos);
  client->reset();
  impostor.join();
}

TEST_CASE("a proof seen on one connection is refused on another", "[control][auth]") {
  auto hub = StartHub();
  RawPeer first(hub->port());
  std::string nonce = first.ReadChallenge();
  proto::WorkerMessage hello = HelloFor(0);
  std::string worker_nonce(net::kNonceBytes, 'w');
  hello.mutable_hello()->set_nonce(worker_nonce);
  hello.mutable_hello()->set_proof(
      net::WorkerProof(kSecret, {kJobId, 0, "host-0", 1000, nonce, worker_nonce}));
  REQUIRE(net::WriteMessage(first.socket, hello).ok());
  REQUIRE(NextEvent(*hub).message->has_hello());

  RawPeer replay(hub->port());
  std::string other_nonce = replay.ReadChallenge();
  CHECK(other_nonce != nonce);
  REQUIRE(net::WriteMessage(replay.socket, hello).ok());  // the same bytes again
  CHECK(NextNotice(*hub).find("wrong or missing job secret") != std::string::npos);
  proto::CoordinatorMessage answer;
  REQUIRE(net::ReadMessage(replay.socket, &answer).ok());
  CHECK(answer.shutdown().abort());
  CHECK(replay.ClosedByHub());
}

TEST_CASE("an oversized frame before authentication closes only that connection", "[control][auth]") {
  auto hub = StartHub();
  LostLog lost;
  auto worker = Greet(*hub, lost, 0);
  HubEvent hello = NextEvent(*hub);

  RawPeer attacker(hub->port());
  attacker.ReadChallenge();
  std::string four_gib_and_garbage = std::string(4, '\xff') + std::string(1000, '\x17');
  boost::system::error_code ignored;  // the hub may close before all of it is written
  asio::write(attacker.socket, asio::buffer(four_gib_and_garbage), ignored);
  std::string notice = NextNotice(*hub);
  CHECK(notice.find("peer announced a frame of 4294967295 bytes, over the limit of 65536") !=
        std::string::npos);
  CHECK(attacker.ClosedByHub());

  // Just over the pre-authentication limit is refused too.
  RawPeer just_over(hub->port());
  just_over.ReadChallenge();
  const uint32_t size = net::kMaxUnauthenticatedFrameBytes + 1;
  const unsigned char header[4] = {size & 0xff, (size >> 8) & 0xff, (size >> 16) & 0xff, size >> 24};
  asio::write(just_over.socket, asio::buffer(header), ignored);
  CHECK(NextNotice(*hub).find("over the limit of 65536") != std::string::npos);
  CHECK(just_over.ClosedByHub());

  proto::WorkerMessage heartbeat;
  heartbeat.mutable_heartbeat()->set_step(3);
  REQUIRE(worker->Send(heartbeat).ok());
  HubEvent next = NextEvent(*hub);
  REQUIRE(next.kind == HubEvent::Kind::kMessage);  // no disconnect of anyone
  CHECK(next.connection == hello.connection);
  CHECK(lost.reasons.empty());
}

TEST_CASE("a silent connection is closed after the handshake timeout", "[control][auth]") {
  HubOptions options;
  options.handshake_timeout = std::chrono::milliseconds(300);
  auto hub = StartHub(options);
  RawPeer silent(hub->port());
  silent.ReadChallenge();
  CHECK(NextNotice(*hub).find("did not authenticate within 300 ms") != std::string::npos);
  CHECK(silent.ClosedByHub());
  // Logged once: no second line about it.
  auto more = hub->NextEvent(std::chrono::milliseconds(600));
  CHECK_FALSE(more.has_value());
}

TEST_CASE("a connect-and-close and garbage are one line each, never a disconnect", "[control][auth]") {
  auto hub = StartHub();
  { RawPeer closes(hub->port()); }
  CHECK(NextNotice(*hub).find("closed an unauthenticated control-plane connection") !=
        std::string::npos);
  RawPeer garbage(hub->port());
  garbage.ReadChallenge();
  const unsigned char header[4] = {5, 0, 0, 0};
  asio::write(garbage.socket, asio::buffer(header));
  asio::write(garbage.socket, asio::buffer(std::string("\xff\xff\xff\xff\xff", 5)));
  CHECK(NextNotice(*hub).find("malformed") != std::string::npos);
  CHECK(garbage.ClosedByHub());
}

TEST_CASE("unauthenticated connections over the cap are closed at once", "[control][auth]") {
  HubOptions options;
  options.max_unauthenticated = 2;
  auto hub = StartHub(options);
  RawPeer first(hub->port());
  first.ReadChallenge();
  RawPeer second(hub->port());
  second.ReadChallenge();
  RawPeer third(hub->port());
  CHECK(NextNotice(*hub).find("2 connections await authentication") != std::string::npos);
  CHECK(third.ClosedByHub());
}

TEST_CASE("the listening socket is close-on-exec, so a launched mpirun does not hold it",
          "[control][auth]") {
  auto hub = StartHub();
  auto close_on_exec = ListeningSocketIsCloseOnExec(hub->port());
  REQUIRE(close_on_exec.has_value());
  CHECK(*close_on_exec);
}

TEST_CASE("a taken or lost rank is not claimed again", "[control][auth]") {
  auto hub = StartHub();
  coordinator::WorkerRoster roster(*hub, 2);
  proto::WorkerMessage hello = HelloFor(1);
  hello.mutable_hello()->set_world_size(2);
  REQUIRE(roster.OnHello(11, hello.hello()).ok());
  Status second = roster.OnHello(12, hello.hello());
  CHECK(second.code() == StatusCode::kAlreadyExists);
  CHECK(second.message() == "rank 1 is already claimed by worker rank 1 (host host-1, pid 1001)");

  roster.MarkLost(1);
  roster.OnDisconnected(1);
  Status after_loss = roster.OnHello(13, hello.hello());
  CHECK(after_loss.code() == StatusCode::kAlreadyExists);
  CHECK(after_loss.message().find("was lost") != std::string::npos);
  CHECK(roster.RankOf(13) == std::nullopt);
}

TEST_CASE("frame headers are checked against the caller's limit", "[control][auth]") {
  const unsigned char header[4] = {0x01, 0x00, 0x01, 0x00};  // 65537
  CHECK(net::DecodeFrameHeader(header).ok());
  auto limited = net::DecodeFrameHeader(header, net::kMaxUnauthenticatedFrameBytes);
  REQUIRE_FALSE(limited.ok());
  CHECK(limited.status().code() == StatusCode::kCorruption);
}

}  // namespace
}  // namespace aimass

namespace aimass {
namespace {

TEST_CASE("only a launcher's own descendants count as its processes", "[control][auth]") {
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::pause();
    std::_Exit(0);
  }
  CHECK(coordinator::ParentProcess(child) == ::getpid());
  CHECK(coordinator::IsDescendantOf(child, ::getpid()));
  CHECK_FALSE(coordinator::IsDescendantOf(::getpid(), child));
  CHECK_FALSE(coordinator::IsDescendantOf(child, child));  // not its own
  CHECK_FALSE(coordinator::IsDescendantOf(1, ::getpid()));
  // A launcher that started nothing owns nothing, not even this process's child.
  coordinator::LocalMpirunLauncher launcher(coordinator::LocalLaunchOptions{});
  CHECK_FALSE(launcher.OwnsProcess(LocalHostName(), static_cast<uint32_t>(child)));
  CHECK(launcher.workers_on_this_host());
  coordinator::LocalLaunchOptions with_hostfile;
  with_hostfile.mpirun_args = {"--hostfile", "hosts"};
  CHECK_FALSE(coordinator::LocalMpirunLauncher(with_hostfile).workers_on_this_host());
  // The child is seen as a live descendant, with a start time that tells it from a later
  // process with its pid; once it is killed it is not running (also as a zombie).
  auto family = coordinator::LiveDescendantsOf(::getpid());
  auto seen = std::find_if(family.begin(), family.end(),
                           [&](const coordinator::ProcessIdentity& process) { return process.pid == child; });
  REQUIRE(seen != family.end());
  CHECK(coordinator::StillRunning(*seen));
  coordinator::ProcessIdentity impostor = *seen;
  impostor.start_time += 1;
  CHECK_FALSE(coordinator::StillRunning(impostor));
  ::kill(child, SIGKILL);
  for (int i = 0; i < 200 && coordinator::StillRunning(*seen); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK_FALSE(coordinator::StillRunning(*seen));  // a zombie until reaped, and ended
  ::waitpid(child, nullptr, 0);
}

}  // namespace
}  // namespace aimass
