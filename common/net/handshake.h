// The control plane's authentication: a per-job secret and an HMAC-SHA256 challenge-response.
//
// Model: Horovod's per-job secret key and TorchServe's post-CVE defaults. Every job gets a
// random 256-bit secret that only the coordinator and the workers it launched hold (MPI
// broadcast under MPMD, the child's environment in the `--workers` form). It never crosses the
// control-plane socket; each side proves it holds it:
//
//   coordinator -> worker   AuthChallenge(coordinator nonce)           first frame of a connection
//   worker -> coordinator   Hello(job id, rank, host, pid, ..., worker nonce,
//                                 worker proof = HMAC(secret, "worker" transcript))
//   coordinator -> worker   AuthAccepted(coordinator proof = HMAC(secret, "coordinator" transcript))
//
// The transcript binds the job id, the claimed rank, host and pid and both nonces, so a proof
// seen on one connection is worthless on another (fresh coordinator nonce) and cannot vouch for
// another rank or pid. The two directions use different labels, so a coordinator's proof cannot
// be reflected back as a worker's. Both sides compare MACs in constant time.
//
// What this does not give: confidentiality or integrity of the messages after the handshake
// (no TLS). Someone who can inject into an established TCP stream is outside the threat model
// (docs/security.md): run multi-host jobs on a private network.
//
// Thread safety: pure functions; the random ones use OpenSSL's thread-safe RAND_bytes.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace aimass::net {

constexpr size_t kJobSecretBytes = 32;  // 256 bits
constexpr size_t kNonceBytes = 32;
constexpr size_t kProofBytes = 32;      // HMAC-SHA256

// The environment variable that carries the secret (hex) to workers the coordinator spawns.
// The worker erases it from its own environment once read.
constexpr const char kJobSecretEnvironmentVariable[] = "AIMASS_JOB_SECRET";

// `count` bytes from OpenSSL's CSPRNG; Internal if it cannot be seeded.
Result<std::string> RandomBytes(size_t count);
// A fresh job secret (kJobSecretBytes random bytes).
Result<std::string> NewJobSecret();

// Lower-case hex, and back. SecretFromHex is InvalidArgument unless `hex` is exactly
// 2 * kJobSecretBytes hex digits (the message never repeats the text).
std::string ToHex(const std::string& bytes);
Result<std::string> SecretFromHex(const std::string& hex);

// What a proof vouches for. Host and pid are included because the coordinator may signal that
// pid: a proof for one process cannot be reused to point it at another.
struct HandshakeTranscript {
  std::string job_id;
  uint32_t rank = 0;
  std::string host;
  uint32_t pid = 0;
  std::string coordinator_nonce;
  std::string worker_nonce;
};

// HMAC-SHA256 of the transcript under `secret`, one label per direction.
std::string WorkerProof(const std::string& secret, const HandshakeTranscript& transcript);
std::string CoordinatorProof(const std::string& secret, const HandshakeTranscript& transcript);

// Constant-time comparison (CRYPTO_memcmp): how long it takes says nothing about where two
// MACs differ. Different lengths are unequal (lengths are public).
bool ProofsEqual(const std::string& expected, const std::string& received);

}  // namespace aimass::net
