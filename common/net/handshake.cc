#include "common/net/handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace aimass::net {
namespace {

// Every field with its length in front (8 bytes, little-endian), so that no two transcripts
// serialise alike ("ab" + "c" vs "a" + "bc").
void AppendField(std::string& out, const std::string& field) {
  uint64_t size = field.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((size >> (8 * i)) & 0xff));
  out += field;
}

std::string Proof(const std::string& secret, const char* label,
                  const HandshakeTranscript& transcript) {
  std::string message;
  AppendField(message, label);
  AppendField(message, transcript.job_id);
  AppendField(message, std::to_string(transcript.rank));
  AppendField(message, transcript.host);
  AppendField(message, std::to_string(transcript.pid));
  AppendField(message, transcript.coordinator_nonce);
  AppendField(message, transcript.worker_nonce);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  // HMAC() with an empty key is still well defined; a missing secret simply fails to verify.
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_size);
  return std::string(reinterpret_cast<const char*>(mac), mac_size);
}

}  // namespace

Result<std::string> RandomBytes(size_t count) {
  std::string bytes(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(count)) != 1) {
    return Status::Internal("OpenSSL's random generator failed (RAND_bytes)");
  }
  return bytes;
}

Result<std::string> NewJobSecret() { return RandomBytes(kJobSecretBytes); }

std::string ToHex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) {
    hex.push_back(kDigits[byte >> 4]);
    hex.push_back(kDigits[byte & 0xf]);
  }
  return hex;
}

Result<std::string> SecretFromHex(const std::string& hex) {
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const std::string problem = std::string(kJobSecretEnvironmentVariable) + " must be " +
                              std::to_string(2 * kJobSecretBytes) + " hex digits";
  if (hex.size() != 2 * kJobSecretBytes) return Status::InvalidArgument(problem);
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    int high = digit(hex[i]);
    int low = digit(hex[i + 1]);
    if (high < 0 || low < 0) return Status::InvalidArgument(problem);
    bytes.push_back(static_cast<char>(high * 16 + low));
  }
  return bytes;
}

std::string WorkerProof(const std::string& secret, const HandshakeTranscript& transcript) {
  return Proof(secret, "aimass control plane v1: worker proof", transcript);
}

std::string CoordinatorProof(const std::string& secret, const HandshakeTranscript& transcript) {
  return Proof(secret, "aimass control plane v1: coordinator proof", transcript);
}

bool ProofsEqual(const std::string& expected, const std::string& received) {
  if (expected.size() != received.size() || expected.empty()) return false;
  return CRYPTO_memcmp(expected.data(), received.data(), expected.size()) == 0;
}

}  // namespace aimass::net
