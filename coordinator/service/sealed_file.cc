#include "coordinator/service/sealed_file.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "common/net/handshake.h"
#include "common/sha256.h"

namespace aimass::service {
namespace {

constexpr char kMagic[] = "AIMSEAL";  // 7 bytes on disk, without the terminator
constexpr size_t kMagicBytes = 7;
constexpr unsigned char kFormatVersion = 1;
constexpr size_t kKeyIdBytes = 8;
constexpr size_t kNonceBytes = 12;  // the GCM standard nonce: no extra GHASH pass
constexpr size_t kKeyFileReadLimit = 2 * kMasterKeyBytes + 2;

struct CipherContextDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextDeleter>;

const unsigned char* Bytes(std::string_view text) {
  return reinterpret_cast<const unsigned char*>(text.data());
}
unsigned char* Bytes(std::string& text) { return reinterpret_cast<unsigned char*>(text.data()); }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Both the header and the caller's context are additional data; fed in one call each.
bool AddAuthenticatedData(EVP_CIPHER_CTX* ctx, std::string_view header, std::string_view context) {
  int ignored = 0;
  if (EVP_CipherUpdate(ctx, nullptr, &ignored, Bytes(header), static_cast<int>(header.size())) != 1) return false;
  return context.empty() ||
         EVP_CipherUpdate(ctx, nullptr, &ignored, Bytes(context), static_cast<int>(context.size())) == 1;
}

// The bulk of either direction, in pieces: EVP lengths are ints, models may pass 2 GiB. GCM
// is a stream mode, so every piece comes out as long as it went in.
bool Crypt(EVP_CIPHER_CTX* ctx, const unsigned char* in, unsigned char* out, size_t size) {
  constexpr size_t kPiece = size_t{1} << 30;
  for (size_t done = 0; done < size;) {
    const int piece = static_cast<int>(std::min(kPiece, size - done));
    int written = 0;
    if (EVP_CipherUpdate(ctx, out + done, &written, in + done, piece) != 1 || written != piece) return false;
    done += static_cast<size_t>(piece);
  }
  return true;
}

}  // namespace

MasterKey::~MasterKey() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

Result<MasterKey> MasterKey::FromBytes(std::string bytes) {
  if (bytes.size() != kMasterKeyBytes) {
    return Status::InvalidArgument("a master key is " + std::to_string(kMasterKeyBytes) + " bytes, not " +
                                   std::to_string(bytes.size()));
  }
  // A label of its own: the id is not a hash anything else computes over the key.
  std::string labelled("aimass sealed-file key id v1", 28);
  labelled.push_back('\0');
  labelled += bytes;
  Sha256 digest;
  digest.Update(labelled.data(), labelled.size());
  OPENSSL_cleanse(labelled.data(), labelled.size());
  const std::string hex = digest.FinalHex();
  if (hex.size() != 64) return Status::Internal("cannot compute SHA-256 (OpenSSL failed)");
  std::string id;
  for (size_t i = 0; i < kKeyIdBytes; ++i) {
    id.push_back(static_cast<char>(HexValue(hex[2 * i]) * 16 + HexValue(hex[2 * i + 1])));
  }
  return MasterKey(std::move(bytes), std::move(id));
}

Result<MasterKey> MasterKey::Load(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IOError("--master-key-file " + path + ": " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return Status::InvalidArgument("--master-key-file " + path + ": not a regular file");
  }
  // Checked before a byte is read: a key others can read is a key that may have leaked.
  if ((info.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
    return Status::PermissionDenied("--master-key-file " + path + " has mode " + mode +
                                    ": it must be 0600 or stricter (chmod 600 " + path + ")");
  }
  std::string text(kKeyFileReadLimit + 1, '\0');
  size_t filled = 0;
  while (filled < text.size()) {
    const ssize_t got = ::read(fd, text.data() + filled, text.size() - filled);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      const int error = errno;
      ::close(fd);
      return Status::IOError("--master-key-file " + path + ": " + std::strerror(error));
    }
    if (got == 0) break;
    filled += static_cast<size_t>(got);
  }
  ::close(fd);
  text.resize(filled);
  const auto wrong_size = [&] {
    return Status::InvalidArgument("--master-key-file " + path + ": a key is 32 raw bytes or 64 hex digits, "
                                   "not a file of " + std::to_string(filled) +
                                   (filled > kKeyFileReadLimit ? "+" : "") + " bytes");
  };
  if (text.size() == kMasterKeyBytes) return FromBytes(std::move(text));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (text.size() != 2 * kMasterKeyBytes) {
    OPENSSL_cleanse(text.data(), text.size());
    return wrong_size();
  }
  std::string bytes(kMasterKeyBytes, '\0');
  bool hex = true;
  for (size_t i = 0; i < kMasterKeyBytes; ++i) {
    const int high = HexValue(text[2 * i]);
    const int low = HexValue(text[2 * i + 1]);
    hex = hex && high >= 0 && low >= 0;
    bytes[i] = static_cast<char>(high * 16 + low);
  }
  OPENSSL_cleanse(text.data(), text.size());
  if (!hex) {
    OPENSSL_cleanse(bytes.data(), bytes.size());
    return Status::InvalidArgument("--master-key-file " + path + ": 64 characters that are not all hex digits");
  }
  return FromBytes(std::move(bytes));
}

Result<std::string> Seal(const MasterKey& key, std::string_view plaintext, std::string_view context) {
  AIMASS_ASSIGN_OR_RETURN(std::string nonce, net::RandomBytes(kNonceBytes));
  std::string sealed(kMagic, kMagicBytes);
  sealed.push_back(static_cast<char>(kFormatVersion));
  sealed += key.id();
  sealed += nonce;
  const size_t header_bytes = sealed.size();
  sealed.resize(header_bytes + plaintext.size() + kSealedTagBytes);
  const std::string_view header(sealed.data(), header_bytes);

  CipherContext ctx(EVP_CIPHER_CTX_new());
  int final_written = 0;
  unsigned char* out = Bytes(sealed) + header_bytes;
  const bool ok =
      ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes), nullptr) == 1 &&
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key.bytes()), Bytes(nonce)) == 1 &&
      AddAuthenticatedData(ctx.get(), header, context) &&
      Crypt(ctx.get(), Bytes(plaintext), out, plaintext.size()) &&
      EVP_EncryptFinal_ex(ctx.get(), out + plaintext.size(), &final_written) == 1 && final_written == 0 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kSealedTagBytes),
                          out + plaintext.size()) == 1;
  if (!ok) return Status::Internal("AES-256-GCM encryption failed (OpenSSL)");
  return sealed;
}

Result<std::string> Open(const MasterKey& key, std::string_view sealed, std::string_view context,
                         const std::string& name) {
  const auto altered = [&](const std::string& why) {
    return Status::Corruption(name + ": " + why + ": the file was altered or the key is wrong");
  };
  if (sealed.size() < kSealedHeaderBytes + kSealedTagBytes || sealed.substr(0, kMagicBytes) != kMagic) {
    return Status::Corruption(name + ": not a sealed file (no AIMSEAL header): the file was altered or "
                              "is not what the service wrote");
  }
  const unsigned version = static_cast<unsigned char>(sealed[kMagicBytes]);
  if (version != kFormatVersion) {
    return Status::FailedPrecondition(name + ": sealed-file format version " + std::to_string(version) +
                                      " (this build reads version " + std::to_string(kFormatVersion) +
                                      "): the file was altered or written by a newer release");
  }
  if (sealed.substr(kMagicBytes + 1, kKeyIdBytes) != key.id()) {
    return altered("authentication failed (sealed under another key id)");
  }
  const std::string_view header = sealed.substr(0, kSealedHeaderBytes);
  const std::string_view nonce = sealed.substr(kMagicBytes + 1 + kKeyIdBytes, kNonceBytes);
  const size_t body = sealed.size() - kSealedHeaderBytes - kSealedTagBytes;
  const std::string_view ciphertext = sealed.substr(kSealedHeaderBytes, body);
  std::string tag(sealed.substr(kSealedHeaderBytes + body, kSealedTagBytes));

  std::string plaintext(body, '\0');
  CipherContext ctx(EVP_CIPHER_CTX_new());
  int final_written = 0;
  const bool set_up =
      ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceBytes), nullptr) == 1 &&
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(key.bytes()), Bytes(nonce)) == 1 &&
      AddAuthenticatedData(ctx.get(), header, context) &&
      Crypt(ctx.get(), Bytes(ciphertext), Bytes(plaintext), body) &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kSealedTagBytes), tag.data()) == 1;
  if (!set_up) return Status::Internal(name + ": AES-256-GCM decryption failed (OpenSSL)");
  // The tag is checked here; until it verifies, the plaintext buffer is not trusted or returned.
  if (EVP_DecryptFinal_ex(ctx.get(), Bytes(plaintext) + body, &final_written) != 1) {
    OPENSSL_cleanse(plaintext.data(), plaintext.size());
    return altered("authentication failed");
  }
  return plaintext;
}

}  // namespace aimass::service
