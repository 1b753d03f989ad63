// Boost.Asio's and Boost.Asio.SSL's compiled parts, once for the whole program
// (BOOST_ASIO_SEPARATE_COMPILATION is set for every target that links ipsx_asio).
#include <utility>

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
