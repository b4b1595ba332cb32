#include "common/io/confined_file.h"
#include "common/io/input_stream.h"
#include "tests/temp_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/catch.h"
#include <filesystem>
#include <string>
#include <vector>

namespace aimass::io {
namespace {

using testing::TempDir;
using testing::WriteRaw;

namespace fs = std::filesystem;

// A data root and, beside it, a directory outside every root holding a secret file.
struct Layout {
  TempDir dir;
  std::string root;
  std::string outside;
  std::string secret;

  Layout() {
    const std::string base = fs::canonical(dir.path()).string();
    root = base + "/root";
    outside = base + "/outside";
    fs::create_directories(root + "/table");
    fs::create_directories(outside);
    secret = outside + "/secret.csv";
    WriteRaw(secret, "password,hash\nroot,xyz\n");
    WriteRaw(root + "/table/part-00000.csv", "a,b\n1,2\n");
  }
  std::vector<std::string> roots() const { return {root}; }
};

std::string ReadAll(InputStream& stream) {
  std::string text;
  char buffer[64];
  for (;;) {
    auto n = stream.Read(buffer, sizeof(buffer));
    REQUIRE(n.ok());
    if (*n == 0) return text;
    text.append(buffer, *n);
  }
}

TEST_CASE("IsInside: a root and what is below it, not a sibling sharing its prefix", "[io][confined]") {
  CHECK(IsInside("/data", "/data"));
  CHECK(IsInside("/data/t/p", "/data"));
  CHECK_FALSE(IsInside("/database/p", "/data"));
  CHECK_FALSE(IsInside("/", "/data"));
  CHECK(IsInside("/anything", "/"));
  CHECK(IsInsideAny("/b/x", {"/a", "/b"}));
  CHECK_FALSE(IsInsideAny("/c/x", {"/a", "/b"}));
}

TEST_CASE("OpenForReading: a link inside a root to a file outside is refused without saying where it leads",
          "[io][confined]") {
  Layout layout;
  const std::string link = layout.root + "/table/part-00001.csv";
  fs::create_symlink(layout.secret, link);

  auto opened = OpenForReading(link, ReadConfinement{layout.roots(), "part-00001.csv"});
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.status().code() == StatusCode::kPermissionDenied);
  const std::string& message = opened.status().message();
  CHECK(message.find("part-00001.csv") != std::string::npos);
  CHECK(message.find(layout.outside) == std::string::npos);
  CHECK(message.find("secret") == std::string::npos);

  // Every stream opens through it, compressed or not.
  auto raw = OpenFileStream(link, 0, ReadConfinement{layout.roots(), "part-00001.csv"});
  REQUIRE_FALSE(raw.ok());
  CHECK(raw.status().code() == StatusCode::kPermissionDenied);
  auto decompressed = OpenDecompressedStream(link, Codec::kGzip, kDefaultMaxRecordBytes,
                                             ReadConfinement{layout.roots(), "part-00001.csv"});
  REQUIRE_FALSE(decompressed.ok());
  CHECK(decompressed.status().code() == StatusCode::kPermissionDenied);
  CHECK(decompressed.status().message().find(layout.outside) == std::string::npos);

  // A file outside named directly, and one reached through a linked directory, alike.
  CHECK(OpenForReading(layout.secret, ReadConfinement{layout.roots(), "x"}).status().code() ==
        StatusCode::kPermissionDenied);
  fs::create_directory_symlink(layout.outside, layout.root + "/table/dt=1");
  auto through_dir = OpenForReading(layout.root + "/table/dt=1/secret.csv",
                                    ReadConfinement{layout.roots(), "dt=1/secret.csv"});
  REQUIRE_FALSE(through_dir.ok());
  CHECK(through_dir.status().code() == StatusCode::kPermissionDenied);
  CHECK(through_dir.status().message().find(layout.outside) == std::string::npos);

  // Unconfined (the CLI), the same link is followed as before.
  auto unconfined = OpenFileStream(link);
  REQUIRE(unconfined.ok());
  CHECK(ReadAll(**unconfined) == "password,hash\nroot,xyz\n");
}

TEST_CASE("OpenForReading: links that stay inside the roots are followed", "[io][confined]") {
  Layout layout;
  fs::create_directories(layout.root + "/shared");
  WriteRaw(layout.root + "/shared/part.csv", "x\n1\n");
  // Absolute and relative links, both ending inside the root.
  fs::create_symlink(layout.root + "/shared/part.csv", layout.root + "/table/part-00001.csv");
  fs::create_symlink("../shared/part.csv", layout.root + "/table/part-00002.csv");
  for (const char* name : {"part-00000.csv", "part-00001.csv", "part-00002.csv"}) {
    auto stream = OpenFileStream(layout.root + "/table/" + name, 0, ReadConfinement{layout.roots(), name});
    REQUIRE(stream.ok());
    CHECK_FALSE(ReadAll(**stream).empty());
  }
  // The second of several roots counts as much as the first.
  auto second = OpenForReading(layout.secret, ReadConfinement{{layout.root, layout.outside}, "s"});
  REQUIRE(second.ok());
  ::close(*second);
}

TEST_CASE("OpenForReading: a FIFO or a directory is refused, without waiting for a writer",
          "[io][confined]") {
  Layout layout;
  const std::string fifo = layout.root + "/table/part-00001.csv";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Without O_NONBLOCK this open would wait forever for a writer (the test would hang).
  for (const auto& roots : {std::vector<std::string>{}, layout.roots()}) {
    auto opened = OpenForReading(fifo, ReadConfinement{roots, "part-00001.csv"});
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.status().code() == StatusCode::kIOError);
    CHECK(opened.status().message().find("not a regular file") != std::string::npos);
  }
  auto directory = OpenFileStream(layout.root + "/table", 0, ReadConfinement{layout.roots(), "table"});
  REQUIRE_FALSE(directory.ok());
  CHECK(directory.status().code() == StatusCode::kIOError);

  // A FIFO outside the roots is refused as outside, not described.
  const std::string outside_fifo = layout.outside + "/pipe";
  REQUIRE(::mkfifo(outside_fifo.c_str(), 0600) == 0);
  fs::create_symlink(outside_fifo, layout.root + "/table/part-00002.csv");
  auto linked = OpenForReading(layout.root + "/table/part-00002.csv",
                               ReadConfinement{layout.roots(), "part-00002.csv"});
  REQUIRE_FALSE(linked.ok());
  CHECK(linked.status().code() == StatusCode::kPermissionDenied);
}

TEST_CASE("OpenForReading: the opened descriptor reads normally (blocking again)", "[io][confined]") {
  Layout layout;
  auto fd = OpenForReading(layout.root + "/table/part-00000.csv", ReadConfinement{layout.roots(), "p"});
  REQUIRE(fd.ok());
  const int flags = ::fcntl(*fd, F_GETFL);
  CHECK((flags & O_NONBLOCK) == 0);
  CHECK((::fcntl(*fd, F_GETFD) & FD_CLOEXEC) != 0);
  ::close(*fd);
  auto missing = OpenForReading(layout.root + "/table/none.csv", ReadConfinement{layout.roots(), "none.csv"});
  CHECK(missing.status().code() == StatusCode::kNotFound);
}

TEST_CASE("CheckConfined: by name, a dangling or outside link refused without its target",
          "[io][confined]") {
  Layout layout;
  fs::create_symlink(layout.secret, layout.root + "/table/out.csv");
  fs::create_symlink(layout.outside + "/gone.csv", layout.root + "/table/dangling.csv");
  CHECK(CheckConfined(layout.root + "/table/part-00000.csv", "part-00000.csv", layout.roots()).ok());
  Status out = CheckConfined(layout.root + "/table/out.csv", "out.csv", layout.roots());
  CHECK(out.code() == StatusCode::kPermissionDenied);
  CHECK(out.message().find(layout.outside) == std::string::npos);
  Status dangling = CheckConfined(layout.root + "/table/dangling.csv", "dangling.csv", layout.roots());
  CHECK(dangling.code() == StatusCode::kNotFound);
  CHECK(dangling.message().find(layout.outside) == std::string::npos);
  CHECK(CheckConfined(layout.root + "/table/out.csv", "out.csv", {}).ok());  // not confined
}

}  // namespace
}  // namespace aimass::io
