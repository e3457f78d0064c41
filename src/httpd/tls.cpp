#include "httpd/tls.hpp"

#include "httpd/tls_socket.hpp"

#include "httpd/lingering_close.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <sys/socket.h>

namespace pusher::httpd {
namespace {
// OpenSSL's error queue as one short line (its first entry is the cause), and emptied.
std::string openssl_reason() {
    unsigned long const first = ERR_get_error();
    ERR_clear_error();
    if (first == 0) {
        return "unknown error";
    }
    if (char const* reason = ERR_reason_error_string(first)) {
        return reason;
    }
    char buf[256];
    ERR_error_string_n(first, buf, sizeof buf);
    return buf;
}

class tls_category final : public boost::system::error_category {
  public:
    char const* name() const noexcept override { return "tls"; }
    std::string message(int v) const override {
        if (char const* reason = ERR_reason_error_string(static_cast<unsigned long>(v))) {
            return reason;
        }
        return "TLS error " + std::to_string(v);
    }
};

error_code tls_error(unsigned long e) {
    static tls_category const category;
    // ERR codes pack (library << 23 | reason); system errors carry bit 31 and are reported through errno instead.
    return error_code(static_cast<int>(e & 0x7fffffffUL), category);
}

// A BIO over the descriptor with send/recv: MSG_NOSIGNAL (a write to a closed connection must not raise SIGPIPE,
// which OpenSSL's socket BIO would do) and EAGAIN reported as "retry", so OpenSSL returns WANT_READ / WANT_WRITE.
int fd_of(BIO* b) {
    return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b)));
}

int bio_write(BIO* b, char const* data, int size) {
    BIO_clear_retry_flags(b);
    ssize_t n;
    do {
        n = ::send(fd_of(b), data, static_cast<std::size_t>(size), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        BIO_set_retry_write(b);
    }
    return static_cast<int>(n);
}

int bio_read(BIO* b, char* data, int size) {
    BIO_clear_retry_flags(b);
    ssize_t n;
    do {
        n = ::recv(fd_of(b), data, static_cast<std::size_t>(size), 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        BIO_set_retry_read(b);
    }
    return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) {
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // writes go straight to the socket: nothing to flush
}

int bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

BIO_METHOD* socket_bio_method() {
    static BIO_METHOD* const method = [] {
        BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "pusher-fd");
        if (m != nullptr) {
            BIO_meth_set_write(m, bio_write);
            BIO_meth_set_read(m, bio_read);
            BIO_meth_set_ctrl(m, bio_ctrl);
            BIO_meth_set_create(m, bio_create);
        }
        return m;
    }();
    return method;
}

// A private key with a passphrase must not make OpenSSL prompt on the terminal: refuse it instead.
int no_password(char*, int, int, void*) {
    return 0;
}

void check_readable(std::string const& file, char const* what) {
    std::ifstream in(file);
    if (!in) {
        throw std::runtime_error(std::string("cannot read TLS ") + what + " " + file + ": " + std::strerror(errno));
    }
}
}  // namespace

void ssl_deleter::operator()(ssl_st* ssl) const noexcept {
    SSL_free(ssl);
}

tls_context::tls_context(std::string const& cert_file, std::string const& key_file) {
    if (cert_file.empty() || key_file.empty()) {
        throw std::runtime_error("TLS needs both a certificate file and a key file");
    }
    check_readable(cert_file, "certificate");
    check_readable(key_file, "key");
    ERR_clear_error();
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (ctx_ == nullptr) {
        throw std::runtime_error("cannot create a TLS context: " + openssl_reason());
    }
    auto fail = [&](std::string what, char const* after = "") {
        what += openssl_reason();
        what += after;
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
        throw std::runtime_error(what);
    };
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    // No renegotiation (a client-driven CPU sink in TLS 1.2), our cipher order, and a peer closing TCP without
    // close_notify is a plain end of stream (browsers do it; HTTP and websocket frame their own messages).
    SSL_CTX_set_options(ctx_, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                  SSL_OP_NO_COMPRESSION);
    // Idle connections give their read/write buffers back (tens of KiB each otherwise); writes may complete
    // record by record and be retried from a moved buffer with the same bytes.
    SSL_CTX_set_mode(ctx_,
                     SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_default_passwd_cb(ctx_, no_password);
    if (SSL_CTX_use_certificate_chain_file(ctx_, cert_file.c_str()) != 1) {
        fail("cannot use TLS certificate " + cert_file + ": ");
    }
    auto mismatch = [&] {
        ERR_clear_error();
        SSL_CTX_free(ctx_);
        ctx_ = nullptr;
        throw std::runtime_error("cannot use TLS key " + key_file + ": it does not match the certificate " + cert_file);
    };
    if (SSL_CTX_use_PrivateKey_file(ctx_, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        unsigned long const e = ERR_peek_last_error();
        if (ERR_GET_LIB(e) == ERR_LIB_X509 && ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
            mismatch();
        }
        // Typically "unsupported" or "bad decrypt" from the decoders: say what we expected.
        fail("cannot use TLS key " + key_file + ": not an unencrypted PEM private key (OpenSSL: ", ")");
    }
    if (SSL_CTX_check_private_key(ctx_) != 1) {
        mismatch();
    }
    if (socket_bio_method() == nullptr) {
        fail("cannot create the TLS socket BIO: ");
    }
}

tls_context::~tls_context() {
    SSL_CTX_free(ctx_);
}

ssl_handle tls_context::make_session(int fd) const {
    ssl_handle ssl(SSL_new(ctx_));
    if (!ssl) {
        ERR_clear_error();
        return nullptr;
    }
    BIO* bio = BIO_new(socket_bio_method());
    if (bio == nullptr) {
        ERR_clear_error();
        return nullptr;
    }
    BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(fd)));
    SSL_set_bio(ssl.get(), bio, bio);  // one BIO for both directions: SSL takes the one reference
    SSL_set_accept_state(ssl.get());
    return ssl;
}

tls_socket::tls_socket(tcp::socket socket, ssl_handle ssl, bool handshake_done)
    : socket_(std::move(socket)), ssl_(std::move(ssl)), handshake_done_(handshake_done) {
    error_code ec;
    socket_.non_blocking(true, ec);
}

tls_socket::~tls_socket() {
    if (deadline_) {
        deadline_->timer.cancel();
    }
}

std::pair<tcp::socket, ssl_handle> tls_socket::release() {
    if (deadline_) {
        deadline_->timer.cancel();
        deadline_.reset();
    }
    return {std::move(socket_), std::move(ssl_)};
}

void tls_socket::expires_after(std::chrono::steady_clock::duration d) {
    if (!deadline_) {
        deadline_ = std::make_shared<deadline>(socket_.get_executor(), socket_);
    }
    deadline_->expired = false;
    deadline_->timer.expires_after(d);  // cancels the previous wait, whose handler then does nothing
    deadline_->timer.async_wait([w = std::weak_ptr<deadline>(deadline_)](error_code ec) {
        if (ec) {
            return;
        }
        if (auto d = w.lock()) {
            d->expired = true;
            error_code ignored;
            d->socket->cancel(ignored);  // pending waits complete with operation_aborted -> timeout
        }
    });
}

void tls_socket::expires_never() {
    if (deadline_) {
        deadline_->timer.cancel();
        deadline_->expired = false;
    }
}

bool tls_socket::expired() const {
    return deadline_ && deadline_->expired;
}

void tls_socket::close(bool linger) {
    if (ssl_ && handshake_done_ && !broken_ && socket_.is_open()) {
        ERR_clear_error();
        SSL_shutdown(ssl_.get());  // queues close_notify and tries to send it; we do not wait for the peer's
        ERR_clear_error();
        broken_ = true;  // nothing more may be sent
    }
    if (linger) {
        lingering_close(std::move(socket_));  // the peer's records still arriving are dropped unread
        return;
    }
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    socket_.close(ec);
}

tls_socket::step_result tls_socket::step(op_kind kind, void* data, std::size_t size) {
    if (!ssl_ || broken_ || !socket_.is_open()) {
        return {want::nothing, asio::error::bad_descriptor, 0};
    }
    ERR_clear_error();  // SSL_get_error reads this thread's error queue
    std::size_t n = 0;
    int rc = 0;
    switch (kind) {
        case op_kind::handshake:
            rc = SSL_do_handshake(ssl_.get());
            break;
        case op_kind::read:
            rc = SSL_read_ex(ssl_.get(), data, size, &n);
            break;
        case op_kind::write:
            rc = SSL_write_ex(ssl_.get(), data, size, &n);
            break;
    }
    if (rc == 1) {
        if (kind == op_kind::handshake) {
            handshake_done_ = true;
        }
        return {want::nothing, {}, n};
    }
    int const saved_errno = errno;
    switch (SSL_get_error(ssl_.get(), rc)) {
        case SSL_ERROR_WANT_READ:
            return {want::read, {}, 0};
        case SSL_ERROR_WANT_WRITE:
            return {want::write, {}, 0};
        case SSL_ERROR_ZERO_RETURN:
            return {want::nothing, asio::error::eof, 0};  // the peer's close_notify (or a TCP close)
        case SSL_ERROR_SYSCALL: {
            broken_ = true;
            unsigned long const e = ERR_peek_error();
            ERR_clear_error();
            if (e != 0) {
                return {want::nothing, tls_error(e), 0};
            }
            if (saved_errno == 0) {
                return {want::nothing, asio::error::eof, 0};
            }
            return {want::nothing, error_code(saved_errno, boost::system::system_category()), 0};
        }
        default: {
            broken_ = true;
            unsigned long const e = ERR_peek_error();
            ERR_clear_error();
            return {want::nothing, e != 0 ? tls_error(e) : error_code(asio::error::connection_aborted), 0};
        }
    }
}
}  // namespace pusher::httpd
