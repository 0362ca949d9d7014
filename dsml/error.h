#pragma once
#include <stdexcept>

namespace whalebox::dsml {

// Bad input to the renderer or the message/tool readers; what() says what and where.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace whalebox::dsml
