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

// Header + serialized message, ready to write. A message over the limit is InvalidArgument.
Result<std::string> EncodeFrame(const google::protobuf::MessageLite& message);

// The body length announced by a header, or Corruption when it is over the limit.
Result<uint32_t> DecodeFrameHeader(const unsigned char header[kFrameHeaderBytes]);

// Corruption when `body` does not parse as `message`'s type.
Status DecodeFrameBody(const std::string& body, google::protobuf::MessageLite* message);

}  // namespace aimass::net
