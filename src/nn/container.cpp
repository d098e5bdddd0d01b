#include "mnemo/nn/container.h"

#include <algorithm>

namespace mnemo::nn {

Sequential::Sequential(std::initializer_list<ModulePtr> modules) : Module("Sequential") {
  for (const ModulePtr& m : modules) push_back(m);
}

void Sequential::push_back(ModulePtr module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

const ModulePtr& Sequential::operator[](std::size_t index) const {
  MNEMO_CHECK(index < modules_.size(), "index ", index, " is out of range for a Sequential of ",
              modules_.size(), " modules");
  return modules_[index];
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const ModulePtr& m : modules_) x = m->forward(x);
  return x;
}

ModuleList::ModuleList(std::initializer_list<ModulePtr> modules) : Module("ModuleList") {
  for (const ModulePtr& m : modules) push_back(m);
}

void ModuleList::push_back(ModulePtr module) {
  register_module(std::to_string(modules_.size()), module);
  modules_.push_back(std::move(module));
}

const ModulePtr& ModuleList::operator[](std::size_t index) const {
  MNEMO_CHECK(index < modules_.size(), "index ", index, " is out of range for a ModuleList of ",
              modules_.size(), " modules");
  return modules_[index];
}

ModuleDict::ModuleDict(std::initializer_list<std::pair<std::string, ModulePtr>> modules)
    : Module("ModuleDict") {
  for (const auto& [key, module] : modules) insert(key, module);
}

void ModuleDict::insert(const std::string& key, ModulePtr module) {
  register_module(key, std::move(module));
  if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) keys_.push_back(key);
}

bool ModuleDict::contains(const std::string& key) const {
  return std::find(keys_.begin(), keys_.end(), key) != keys_.end();
}

}  // namespace mnemo::nn
