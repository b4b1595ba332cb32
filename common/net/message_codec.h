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

// Blocks until a whole message arrived. A closed connection is an error whose message starts
// with "connection closed".
Status ReadMessage(boost::asio::ip::tcp::socket& socket, google::protobuf::MessageLite* message);

}  // namespace aimass::net
