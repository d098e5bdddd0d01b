#include "mnemo/core/error.h"
#include "mnemo/serialize.h"

namespace mnemo {

MapLocation MapLocation::keep_saved() {
  MapLocation location;
  location.rule_ = KeepSaved{};
  return location;
}

Device MapLocation::resolve(std::string_view saved_tag) const {
  std::optional<Device> target;
  if (std::holds_alternative<KeepSaved>(rule_)) return Device::parse(saved_tag);
  if (const auto* device = std::get_if<Device>(&rule_)) target = *device;
  if (const auto* tags = std::get_if<std::map<std::string, std::string>>(&rule_)) {
    auto it = tags->find(std::string(saved_tag));
    target = Device::parse(it == tags->end() ? saved_tag : it->second);
  }
  if (const auto* function = std::get_if<Function>(&rule_)) {
    target = (*function)(std::string(saved_tag));
  }
  if (!target) target = Device::parse(saved_tag);
  if (!target->is_cpu()) {
    fail(ErrorCode::kUnsupported, "a tensor was saved on ", saved_tag,
         " and would be restored on ", target->str(),
         ", but this build computes on the CPU only; load with map_location = cpu "
         "(e.g. mnemo::load(path, {.map_location = mnemo::Device::cpu()}))");
  }
  return *target;
}

}  // namespace mnemo
