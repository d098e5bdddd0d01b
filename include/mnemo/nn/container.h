// Containers: Sequential (children "0", "1", ..., forward chains them), ModuleList and
// ModuleDict — the same state_dict keys as PyTorch's.
#pragma once

#include <initializer_list>

#include "mnemo/nn/module.h"

namespace mnemo::nn {

class Sequential : public Module {
 public:
  Sequential() : Module("Sequential") {}
  Sequential(std::initializer_list<ModulePtr> modules);

  // Appends under the next index ("0", "1", ...).
  void push_back(ModulePtr module);
  std::size_t size() const { return modules_.size(); }
  const ModulePtr& operator[](std::size_t index) const;
  Tensor forward(const Tensor& input) override;

 private:
  std::vector<ModulePtr> modules_;
};

class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  ModuleList(std::initializer_list<ModulePtr> modules);

  void push_back(ModulePtr module);
  std::size_t size() const { return modules_.size(); }
  const ModulePtr& operator[](std::size_t index) const;
  auto begin() const { return modules_.begin(); }
  auto end() const { return modules_.end(); }

 private:
  std::vector<ModulePtr> modules_;
};

class ModuleDict : public Module {
 public:
  ModuleDict() : Module("ModuleDict") {}
  ModuleDict(std::initializer_list<std::pair<std::string, ModulePtr>> modules);

  // Inserts at the end, or replaces the module of an existing key in place.
  void insert(const std::string& key, ModulePtr module);
  bool contains(const std::string& key) const;
  std::size_t size() const { return keys_.size(); }
  ModulePtr operator[](const std::string& key) const { return submodule(key); }
  const std::vector<std::string>& keys() const { return keys_; }

 private:
  std::vector<std::string> keys_;
};

}  // namespace mnemo::nn
