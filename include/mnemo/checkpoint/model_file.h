// A whole model in one .pt file: its architecture (each module's registered type, config
// and children) beside its state_dict, so that load_model rebuilds it without the code
// that assembled it.
//
//   mnemo::save_model(net, "net.pt");
//   std::shared_ptr<Net> restored = mnemo::load_model<Net>("net.pt");
//
// Every module in the tree needs a registered type (mnemo/nn/module_registry.h): the
// built-in layers have one; a module of your own registers its type and reports its
// config. The state_dict stays the recommended way to save weights — the code owns the
// structure — and docs/full-model.md says why.
//
// The file is an ordinary .pt that torch.load(path, weights_only=True) opens:
//   {"mnemo_model": {"format_version": 1, "mnemo_version": "0.1.0",
//                    "architecture": '{"type": "Net", "version": 1, "config": {...},
//                                      "training": true, "children": {...}}'},
//    "state_dict": OrderedDict(...)}
// so PyTorch reads its state_dict as checkpoint["state_dict"], and nothing in it is code.
// The architecture is JSON text (json.loads in Python), not pickled dicts, because
// PyTorch 1.13's weights_only unpickler refuses every float and configs hold floats (eps,
// momentum, p). So a config may hold None, bools, ints, finite floats, strings, and lists
// and str-keyed dicts of them; tuples come back as lists.
//
// Errors, each message starting with "save_model('<path>'): " or "load_model('<path>'): ":
//  - save_model: kUnsupported for a module whose type isn't registered (naming its path
//    in the tree and its C++ type), that is shared by two parents, or whose config holds
//    what JSON can't (a tensor, bytes, inf); kInvalidArgument for a .safetensors path (it
//    holds tensors only); what mnemo::save throws.
//  - load_model: kUnsupported for a file that is not a model (a plain state_dict, a
//    training checkpoint) or whose model format version is newer than this build's;
//    kMismatch when the architecture needs what the registry lacks (an unknown type, a
//    missing or mistyped config field, a newer config version) or when the state_dict
//    does not fit the rebuilt model (PyTorch's load_state_dict text); kCorrupt for a
//    malformed model record (the architecture not JSON, say); what mnemo::load throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <typeinfo>
#include <vector>

#include "mnemo/nn/module.h"
#include "mnemo/nn/module_registry.h"
#include "mnemo/serialize.h"

namespace mnemo {

// The layout of the "mnemo_model" record this build writes, and the newest it reads.
inline constexpr std::int64_t kModelFormatVersion = 1;

struct SaveModelOptions {
  SaveOptions save = {};
  // Where module types are looked up; nullptr is nn::ModuleRegistry::global().
  const nn::ModuleRegistry* registry = nullptr;
};

struct LoadModelOptions {
  // How the file is read: map_location, mmap, CRC checks.
  LoadOptions load = {};
  // Where module types are looked up; nullptr is nn::ModuleRegistry::global().
  const nn::ModuleRegistry* registry = nullptr;
};

// Writes `model`'s architecture and state_dict to `path`, atomically as mnemo::save does.
// Nothing is written when the architecture can't be recorded.
void save_model(const nn::Module& model, const std::filesystem::path& path,
                const SaveModelOptions& options = {});
// The same file in memory.
std::vector<std::byte> save_model_to_bytes(const nn::Module& model,
                                           const SaveModelOptions& options = {});

// Rebuilds the model a file written by save_model holds: each module by its registered
// factory from its saved config, its children checked against the saved ones, then the
// state_dict loaded strictly, and each module's training flag restored. While the
// factories run, nn::init's fills from the default generator and its constant fills are
// recorded, not made; after the load, only those of tensors the file did not give (a
// non-persistent buffer) are made. The model takes the file's tensors as they are where
// they are writable and of the dtype and device its own have, else copies them in.
nn::ModulePtr load_model(const std::filesystem::path& path, const LoadModelOptions& options = {});
// From bytes in memory (options.load.mmap must be false).
nn::ModulePtr load_model(std::span<const std::byte> bytes, const LoadModelOptions& options = {});

namespace detail {
[[noreturn]] void fail_model_class(const std::filesystem::path& path, const nn::Module& model,
                                   const std::type_info& expected);
}  // namespace detail

// The same, as module class M: throws kMismatch naming both types when the saved model's
// root is not an M.
template <class M>
std::shared_ptr<M> load_model(const std::filesystem::path& path,
                              const LoadModelOptions& options = {}) {
  nn::ModulePtr model = load_model(path, options);
  std::shared_ptr<M> typed = std::dynamic_pointer_cast<M>(model);
  if (!typed) detail::fail_model_class(path, *model, typeid(M));
  return typed;
}

}  // namespace mnemo
