// One request performed on the calling thread, for the few exchanges that are not transfers:
// fetching credentials (instance metadata, a container endpoint, STS) runs on a refresh thread
// of its own and must never touch the event loop, which only the loop thread may drive.
#pragma once

#include "http/loop.h"

namespace rehome::http {

/// Sends `request` and waits for the whole response (within request.timeout). Same options as a
/// Loop transfer (TLS, timeouts, headers as given); a transport failure is reported in
/// Response::transport_error, never thrown. Thread-safe: each call has its own handle.
Response perform(Request request);

}  // namespace rehome::http
