// The one translation unit that compiles Asio's and Beast's non-inline code (separate compilation, see
// docs/dependencies.md §3).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
