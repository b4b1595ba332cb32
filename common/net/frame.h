// Control-plane framing: each message is a 4-byte little-endian length followed by that many
// bytes of serialized protobuf. Lengths above kMaxFrameBytes are refused so that a stray or
// hostile peer cannot make us allocate gigabytes.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace google::protobuf {
class MessageLite;
}

namespace aimass::net {

constexpr size_t kFrameHeaderBytes = 4;
constexpr uint32_t kMaxFrameBytes = 256u << 20;
// Before a peer has authenticated (handshake.h) it may send no more than this in one frame: a
// Hello is a few hundred bytes, and an anonymous peer must not make us allocate more.
constexpr uint32_t kMaxUnauthenticatedFrameBytes = 64u << 10;

// Header + serialized message, ready to write. A message over the limit is InvalidArgument.
Result<std::string> EncodeFrame(const google::protobuf::MessageLite& message);

// The body length announced by a header, or Corruption when it is over `limit` (at most
// kMaxFrameBytes). Pure: checks the header before anything is allocated for the body.
Result<uint32_t> DecodeFrameHeader(const unsigned char header[kFrameHeaderBytes],
                                   uint32_t limit = kMaxFrameBytes);

// Corruption when `body` does not parse as `message`'s type.
Status DecodeFrameBody(const std::string& body, google::protobuf::MessageLite* message);

}  // namespace aimass::net
