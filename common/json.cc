// Compiles Boost.JSON once for the whole project (header-only mode); everything else includes
// <boost/json.hpp>.
#include <boost/json/src.hpp>
