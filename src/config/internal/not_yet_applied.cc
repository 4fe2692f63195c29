#include "config/internal/not_yet_applied.h"

#include <fmt/format.h>

namespace hikyaku::config::internal {

void warn_not_yet_applied(YamlReader& reader, const Config& config) {
  for (size_t i = 0; i < config.rules.size(); ++i) {
    for (size_t j = 0; j < config.rules[i].targets.size(); ++j) {
      const std::optional<DeadLetterConfig>& dlq = config.rules[i].targets[j].dead_letter_config;
      if (dlq && dlq->kind == DeadLetterConfig::Kind::kApiDestination) {
        reader.add_warning(
            dlq->location, fmt::format("Rules[{}].Targets[{}].DeadLetterConfig.Arn", i, j),
            fmt::format("delivering dead letters to API destination \"{}\" is not implemented "
                        "yet; they stay in hikyaku's own dead-letter queue only",
                        dlq->api_destination));
      }
    }
  }
}

}  // namespace hikyaku::config::internal
