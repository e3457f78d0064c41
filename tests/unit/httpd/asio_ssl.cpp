// Asio's SSL stream for the test clients only (Asio is compiled separately, and its SSL part is in no library: the
// server speaks TLS through OpenSSL directly, httpd/tls_socket.hpp).
#include <boost/asio/ssl/impl/src.hpp>
