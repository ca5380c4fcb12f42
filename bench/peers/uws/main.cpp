// uws is the uWebSockets peer echo server for wsbench compare: one event
// loop (uWS::App on uSockets' epoll), /echo echoing every message as
// received (text as text, binary as binary), no per-connection user data,
// no idle timeout and no automatic pings, so an idle connection costs only
// what the library itself keeps. Flags as the Go peers: -addr host:port,
// -echo-path. Built by the Makefile beside it against checkouts of
// uWebSockets and uSockets that WSEDGE_UWS_DIR and WSEDGE_USOCKETS_DIR
// point at; nothing of theirs is in this repository.
#include "App.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

struct Empty {};

[[noreturn]] void usage(const char *why) {
    std::fprintf(stderr, "uws: %s\nusage: uws [-addr host:port] [-echo-path /echo]\n", why);
    std::exit(2);
}

}  // namespace

int main(int argc, char **argv) {
    std::string addr = "127.0.0.1:8080", path = "/echo";
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "-h" || a == "-help" || a == "--help") {
            std::printf("usage: uws [-addr host:port] [-echo-path /echo]\n");
            return 0;
        }
        if (i + 1 >= argc) usage("flag needs a value");
        if (a == "-addr" || a == "--addr") {
            addr = argv[++i];
        } else if (a == "-echo-path" || a == "--echo-path") {
            path = argv[++i];
        } else {
            usage(("unknown flag " + a).c_str());
        }
    }
    size_t colon = addr.rfind(':');
    if (colon == std::string::npos) usage("-addr must be host:port");
    std::string host = addr.substr(0, colon);
    int port = std::atoi(addr.c_str() + colon + 1);
    if (port <= 0 || port > 65535) usage("bad port");

    uWS::App::WebSocketBehavior<Empty> echo = {};
    echo.compression = uWS::DISABLED;
    echo.maxPayloadLength = 16 * 1024 * 1024;
    echo.idleTimeout = 0;  // no timer per connection (the Go peers have none either)
    echo.maxBackpressure = 16 * 1024 * 1024;
    echo.closeOnBackpressureLimit = false;
    echo.sendPingsAutomatically = false;
    echo.message = [](auto *ws, std::string_view msg, uWS::OpCode op) { ws->send(msg, op); };

    // The app must outlive the loop: its contexts are the sockets' state.
    uWS::App app;
    bool listening = false;
    app.ws<Empty>(path, std::move(echo)).listen(host, port, [&](us_listen_socket_t *ls) { listening = ls != nullptr; });
    if (!listening) {
        std::fprintf(stderr, "uws: cannot listen on %s\n", addr.c_str());
        return 1;
    }
    app.run();
    return 0;
}
