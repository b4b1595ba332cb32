// Blocking send/receive of framed protobuf messages on a connected Asio TCP socket: the worker
// side of the control plane, where one reader thread and serialized writers suffice.
// Not thread-safe per socket: callers serialize writes (ControlClient holds a mutex).
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "common/net/frame.h"
#include "common/status.h"

namespace aimass::net {

Status WriteMessage(boost::asio::ip::tcp::socket& socket,
                    const google::protobuf::MessageLite& message);

// Blocks until a whole message arrived. A closed connection is Unavailable, with a message that
// starts with "connection closed"; a bad frame is Corruption (frame.h). A failed send is
// Unavailable too.
// `limit` caps the frame (frame.h): a worker accepts no more than kMaxUnauthenticatedFrameBytes
// from a coordinator that has not yet proved it holds the job secret.
Status ReadMessage(boost::asio::ip::tcp::socket& socket, google::protobuf::MessageLite* message,
                   uint32_t limit = kMaxFrameBytes);

}  // namespace aimass::net
