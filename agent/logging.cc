#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "agent/cli.h"

namespace whalebox::agent {

void configure_logging(int verbosity) {
  auto logger = spdlog::stderr_color_mt("whalebox");
  logger->set_pattern("%^[%l]%$ %v");
  logger->set_level(verbosity >= 2 ? spdlog::level::debug
                    : verbosity == 1 ? spdlog::level::info
                                     : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

}  // namespace whalebox::agent
