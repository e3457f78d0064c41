#pragma once
// TLS for httpd on OpenSSL 3, without OpenSSL's headers: the server's TLS context (certificate chain and key) and
// the owning handle of one connection's SSL object. The stream that speaks TLS over a socket is httpd/tls_socket.hpp.
#include <memory>
#include <string>

struct ssl_st;      // OpenSSL's SSL
struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace pusher::httpd {
struct ssl_deleter {
    void operator()(ssl_st* ssl) const noexcept;
};
// One connection's TLS state. It reads and writes the socket's descriptor itself (by number, through a BIO that
// uses send/recv), so it is bound to the descriptor, not to an io_context.
using ssl_handle = std::unique_ptr<ssl_st, ssl_deleter>;

// The listener's TLS configuration: TLS 1.2 and 1.3, the certificate chain and private key from PEM files.
// Immutable once built; shared by every connection, on any thread (OpenSSL's SSL_CTX is thread-safe for this).
class tls_context {
  public:
    // Loads and checks both files. Throws std::runtime_error with one clear line, e.g.
    // "cannot use TLS key /etc/pusher/key.pem: it does not match the certificate /etc/pusher/cert.pem".
    tls_context(std::string const& cert_file, std::string const& key_file);
    ~tls_context();
    tls_context(tls_context const&) = delete;
    tls_context& operator=(tls_context const&) = delete;

    // A server-side TLS connection over the (non-blocking) descriptor `fd`, before its handshake; null when OpenSSL
    // cannot allocate one.
    ssl_handle make_session(int fd) const;

  private:
    ssl_ctx_st* ctx_ = nullptr;
};
}  // namespace pusher::httpd
