// mnemo diff: what differs between two checkpoints, and why one will not load where the
// other does. Both are flattened to dotted keys (keys.h), so a nested .pt matches the
// flat names of a .safetensors file; tensors are compared element by element, like
// torch.allclose (|a - b| <= atol + rtol * |b|), in double for floating types and exactly
// for integers, with NaN equal to NaN at the same position.
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <optional>
#include <set>
#include <unordered_map>

#include "commands.h"
#include "keys.h"
#include "mnemo/core/value_json.h"
#include "mnemo/serialize.h"
#include "progress.h"

namespace mnemo::cli {
namespace {

// Elements compared per step: small enough for the scratch buffers to stay in cache,
// large enough that the bar's bookkeeping costs nothing.
constexpr std::size_t kChunkElements = std::size_t{1} << 16;
// Entries shown per section of the text output without --all.
constexpr std::size_t kListLimit = 20;
// ... and when a hint explains why the keys differ.
constexpr std::size_t kExplainedListLimit = 3;

constexpr double kInfinity = std::numeric_limits<double>::infinity();

struct Tolerance {
  double atol = 0;
  double rtol = 0;
};

// What comparing two same-shaped tensors found.
struct ValueStats {
  std::uint64_t compared = 0;
  std::uint64_t differing = 0;       // outside the tolerance
  std::uint64_t nan_mismatches = 0;  // NaN on one side only (counted in differing too)
  double max_abs = 0;                // over the pairs where neither is NaN
  double max_rel = 0;                // |a - b| / |b|; infinite where b is 0 and a is not
};

enum Change : unsigned {
  kType = 1u << 0,    // a tensor against a scalar, a str against an int...
  kDType = 1u << 1,   // tensors of different dtypes
  kShape = 1u << 2,   // tensors of different shapes: values not compared
  kValues = 1u << 3,  // tensor elements outside the tolerance
  kValue = 1u << 4,   // scalars that differ
};

struct Entry {
  std::string key;
  const Value* a = nullptr;
  const Value* b = nullptr;
  unsigned changes = 0;
  std::optional<ValueStats> stats;
};

struct Side {
  std::string file;
  FileFormat format = FileFormat::kPtZip;
  Value content;
  std::vector<Leaf> leaves;
};

// --- comparing values ------------------------------------------------------------------

// Elements are read through a type that holds every value of both tensors exactly, so
// that no two distinct values compare equal: double for the floating types (the common
// case, and the fast one), long double when an integer is involved (its 64-bit mantissa
// holds every int64 and uint64), complex<double> when a complex tensor is.
enum class Family { kFloat, kSigned, kUnsigned, kComplex };

Family family_of(DType dtype) {
  if (is_complex(dtype)) return Family::kComplex;
  if (dtype == DType::kUInt64) return Family::kUnsigned;
  if (is_floating_point(dtype)) return Family::kFloat;
  return Family::kSigned;  // the other integers and bool
}

template <class T>
void widen(const std::byte* in, std::size_t count, long double* out) {
  for (std::size_t i = 0; i < count; ++i) {
    T value;
    std::memcpy(&value, in + sizeof(T) * i, sizeof(T));
    out[i] = static_cast<long double>(value);
  }
}

// A tensor's elements in row-major order, read in chunks. Tensors loaded with a GPU tag
// keep their bytes in host memory; they are re-tagged as CPU tensors to be read.
class Elements {
 public:
  explicit Elements(const Tensor& tensor) {
    Tensor cpu = tensor;
    if (!tensor.device().is_cpu()) {
      cpu = Tensor(tensor.storage().with_device(Device::cpu()), tensor.dtype(), tensor.sizes(),
                   tensor.strides(), tensor.storage_offset());
    }
    tensor_ = cpu.contiguous();
    base_ = static_cast<const std::byte*>(tensor_.data_ptr());
  }

  void read(std::size_t start, std::size_t count, double* out) {
    convert_elements(at(start), tensor_.dtype(), out, DType::kFloat64, count);
  }

  void read(std::size_t start, std::size_t count, long double* out) {
    const Family family = family_of(tensor_.dtype());
    const DType wide = family == Family::kFloat      ? DType::kFloat64
                       : family == Family::kUnsigned ? DType::kUInt64
                                                     : DType::kInt64;
    scratch_.resize(count * 8);
    convert_elements(at(start), tensor_.dtype(), scratch_.data(), wide, count);
    if (wide == DType::kFloat64) {
      widen<double>(scratch_.data(), count, out);
    } else if (wide == DType::kUInt64) {
      widen<std::uint64_t>(scratch_.data(), count, out);
    } else {
      widen<std::int64_t>(scratch_.data(), count, out);
    }
  }

  // Real types read with imaginary part 0.
  void read(std::size_t start, std::size_t count, std::complex<double>* out) {
    convert_elements(at(start), tensor_.dtype(), out, DType::kComplex128, count);
  }

 private:
  const std::byte* at(std::size_t element) const {
    return base_ + element * tensor_.element_size();
  }

  Tensor tensor_;
  const std::byte* base_ = nullptr;
  std::vector<std::byte> scratch_;
};

template <class T>
bool is_nan(const T& x) {
  return std::isnan(x);
}
template <class T>
bool is_nan(const std::complex<T>& z) {
  return std::isnan(z.real()) || std::isnan(z.imag());
}
template <class T>
bool is_inf(const T& x) {
  return std::isinf(x);
}
template <class T>
bool is_inf(const std::complex<T>& z) {
  return std::isinf(z.real()) || std::isinf(z.imag());
}

// Counts the pairs outside the tolerance, and the greatest differences. Infinities are
// close only when equal, as in torch.isclose.
template <class T>
void compare_chunk(const T* a, const T* b, std::size_t count, const Tolerance& tolerance,
                   ValueStats& stats) {
  for (std::size_t i = 0; i < count; ++i) {
    const T& x = a[i];
    const T& y = b[i];
    if (x == y) continue;
    const bool x_nan = is_nan(x);
    const bool y_nan = is_nan(y);
    if (x_nan && y_nan) continue;
    if (x_nan || y_nan) {
      ++stats.differing;
      ++stats.nan_mismatches;
      continue;
    }
    const auto diff = std::abs(x - y);
    const auto magnitude = std::abs(y);
    const double rel = magnitude == 0 ? kInfinity : static_cast<double>(diff / magnitude);
    stats.max_abs = std::max(stats.max_abs, static_cast<double>(diff));
    stats.max_rel = std::max(stats.max_rel, rel);
    if (is_inf(x) || is_inf(y) || !(diff <= tolerance.atol + tolerance.rtol * magnitude)) {
      ++stats.differing;
    }
  }
}

template <class T>
void compare_elements(Elements& xs, Elements& ys, std::size_t numel, std::size_t bytes_per_element,
                      const Tolerance& tolerance, Progress& progress, ValueStats& stats) {
  const std::size_t chunk = std::min(numel, kChunkElements);
  std::vector<T> a(chunk);
  std::vector<T> b(chunk);
  for (std::size_t start = 0; start < numel; start += chunk) {
    const std::size_t count = std::min(chunk, numel - start);
    xs.read(start, count, a.data());
    ys.read(start, count, b.data());
    compare_chunk(a.data(), b.data(), count, tolerance, stats);
    progress.advance(count * bytes_per_element);
  }
}

// REQUIRES: same shape.
ValueStats compare_tensors(const Tensor& a, const Tensor& b, const Tolerance& tolerance,
                           Progress& progress) {
  ValueStats stats;
  const auto numel = static_cast<std::size_t>(a.numel());
  stats.compared = numel;
  if (numel == 0) return stats;
  Elements xs(a);
  Elements ys(b);
  const std::size_t bytes = a.element_size() + b.element_size();
  const Family fa = family_of(a.dtype());
  const Family fb = family_of(b.dtype());
  if (fa == Family::kComplex || fb == Family::kComplex) {
    compare_elements<std::complex<double>>(xs, ys, numel, bytes, tolerance, progress, stats);
  } else if (fa == Family::kFloat && fb == Family::kFloat) {
    compare_elements<double>(xs, ys, numel, bytes, tolerance, progress, stats);
  } else {
    compare_elements<long double>(xs, ys, numel, bytes, tolerance, progress, stats);
  }
  return stats;
}

bool is_number(const Value& v) { return v.is_int() || v.is_big_int() || v.is_double(); }

bool is_empty_container(const Value& v) {
  return (v.is_dict() && v.as_dict().empty()) ||
         ((v.is_list() || v.is_tuple()) && sequence_items(v).empty());
}

// Scalars (and empty containers) under the tolerance. Python's ints and floats compare
// by value (1 == 1.0), so a number changing type alone is not a difference.
bool scalars_equal(const Value& a, const Value& b, const Tolerance& tolerance) {
  if (is_number(a) && is_number(b)) {
    if (a.is_big_int() || b.is_big_int()) return a.as_big_int() == b.as_big_int();
    const long double x = a.is_int() ? static_cast<long double>(a.as_int()) : a.as_double();
    const long double y = b.is_int() ? static_cast<long double>(b.as_int()) : b.as_double();
    if (x == y || (std::isnan(x) && std::isnan(y))) return true;
    if (std::isnan(x) || std::isnan(y) || std::isinf(x) || std::isinf(y)) return false;
    return std::fabs(x - y) <= tolerance.atol + tolerance.rtol * std::fabs(y);
  }
  if (is_empty_container(a) && is_empty_container(b)) return a.is_dict() == b.is_dict();
  return a == b;
}

Entry compare_entry(const std::string& key, const Value& a, const Value& b,
                    const Tolerance& tolerance, Progress& progress) {
  Entry entry;
  entry.key = key;
  entry.a = &a;
  entry.b = &b;
  if (a.is_tensor() && b.is_tensor()) {
    const Tensor& x = a.as_tensor();
    const Tensor& y = b.as_tensor();
    if (x.dtype() != y.dtype()) entry.changes |= kDType;
    if (x.sizes() != y.sizes()) {
      entry.changes |= kShape;
      return entry;
    }
    entry.stats = compare_tensors(x, y, tolerance, progress);
    if (entry.stats->differing > 0) entry.changes |= kValues;
    return entry;
  }
  if (a.is_tensor() != b.is_tensor() || (a.type() != b.type() && !(is_number(a) && is_number(b)) &&
                                         !(is_empty_container(a) && is_empty_container(b)))) {
    entry.changes |= kType;
    return entry;
  }
  if (!scalars_equal(a, b, tolerance)) entry.changes |= kValue;
  return entry;
}

// --- why one will not load where the other does -------------------------------------------

// The tensor keys of a checkpoint, or of one of its top-level sub-trees (`sub`), relative
// to that sub-tree.
struct KeyView {
  std::string sub;  // "" for the whole checkpoint
  std::set<std::string> keys;
};

std::vector<KeyView> key_views(const Side& side) {
  std::vector<KeyView> views(1);
  for (const Leaf& leaf : side.leaves) {
    if (leaf.value->is_tensor()) views[0].keys.insert(leaf.key);
  }
  if (!side.content.is_dict()) return views;
  for (const auto& [name, item] : side.content.as_dict()) {
    // A sub-tree that --only can name: a string key without a '/'.
    if (!std::holds_alternative<std::string>(name) || !item.is_dict()) continue;
    const std::string& sub = std::get<std::string>(name);
    if (sub.find('/') != std::string::npos) continue;
    KeyView view{sub, {}};
    const std::string prefix = sub + ".";
    for (const std::string& key : views[0].keys) {
      if (key.starts_with(prefix)) view.keys.insert(key.substr(prefix.size()));
    }
    if (!view.keys.empty()) views.push_back(std::move(view));
  }
  return views;
}

// The prefix that turns every key of `plain` into a key of `prefixed` ("module."), ""
// when the sets are equal; nullopt when neither holds.
std::optional<std::string> added_prefix(const std::set<std::string>& plain,
                                        const std::set<std::string>& prefixed) {
  if (plain.size() != prefixed.size() || plain.empty()) return std::nullopt;
  if (plain == prefixed) return std::string();
  const std::string& first = *prefixed.begin();
  const std::size_t dot = first.find('.');
  if (dot == std::string::npos) return std::nullopt;
  const std::string prefix = first.substr(0, dot + 1);
  auto it = plain.begin();
  for (const std::string& key : prefixed) {
    if (!key.starts_with(prefix) || key.compare(prefix.size(), std::string::npos, *it) != 0) {
      return std::nullopt;
    }
    ++it;
  }
  return prefix;
}

// What to do to one side so that its tensor keys become the other's.
struct Fix {
  std::string only;
  std::string strip_prefix;
  bool needed() const { return !only.empty() || !strip_prefix.empty(); }
};

std::string output_example(const Side& side) {
  return side.format == FileFormat::kSafetensors ? "OUT.safetensors" : "OUT.pt";
}

std::string fix_hint(const Side& side, const Side& other, const Fix& fix) {
  std::string text;
  if (fix.only.empty()) {
    text = "every tensor key of " + side.file + " is a key of " + other.file +
           " with the prefix '" + fix.strip_prefix + "'";
  } else if (fix.strip_prefix.empty()) {
    text = side.file + " holds more than a state_dict: its '" + fix.only +
           "' has exactly the tensor keys of " + other.file;
  } else {
    text = side.file + "'s '" + fix.only + "' has the tensor keys of " + other.file +
           ", each with the prefix '" + fix.strip_prefix + "'";
  }
  if (fix.strip_prefix == "module.") {
    text += " (DataParallel and DistributedDataParallel save their model's keys so)";
  }
  text += "; to match " + other.file + ":\n    mnemo convert";
  if (!fix.only.empty()) text += " --only " + fix.only;
  if (!fix.strip_prefix.empty()) text += " --rename-prefix " + fix.strip_prefix + "=";
  return text + " " + side.file + " " + output_example(side);
}

bool names_sub_tree(const std::vector<KeyView>& views, const Fix& fix) {
  if (!fix.only.empty() || fix.strip_prefix.empty()) return false;
  const std::string name = fix.strip_prefix.substr(0, fix.strip_prefix.size() - 1);
  return std::any_of(views.begin() + 1, views.end(),
                     [&](const KeyView& v) { return v.sub == name; });
}

// The tensors of `side` that `fix` keeps, under the names it gives them.
std::vector<std::pair<std::string, const Value*>> fixed_tensors(const Side& side, const Fix& fix) {
  std::vector<std::pair<std::string, const Value*>> out;
  const std::string sub = fix.only.empty() ? "" : fix.only + ".";
  for (const Leaf& leaf : side.leaves) {
    if (!leaf.value->is_tensor() || !leaf.key.starts_with(sub)) continue;
    std::string key = leaf.key.substr(sub.size());
    if (!key.starts_with(fix.strip_prefix)) continue;
    out.emplace_back(key.substr(fix.strip_prefix.size()), leaf.value);
  }
  return out;
}

// Compares the tensors the fixes pair up, so that the hint also says whether the files
// then hold the same weights.
std::string after_fix(const Side& a, const Fix& fix_a, const Side& b, const Fix& fix_b,
                      const Tolerance& tolerance, bool quiet) {
  const auto xs = fixed_tensors(a, fix_a);
  std::unordered_map<std::string, const Value*> ys;
  for (auto& [key, value] : fixed_tensors(b, fix_b)) ys.emplace(std::move(key), value);
  std::uint64_t work = 0;
  for (const auto& [key, x] : xs) {
    const auto it = ys.find(key);
    if (it != ys.end() && x->as_tensor().sizes() == it->second->as_tensor().sizes()) {
      work += x->as_tensor().nbytes() + it->second->as_tensor().nbytes();
    }
  }
  Progress progress("diff", work, quiet);
  std::size_t changed = 0;
  for (const auto& [key, x] : xs) {
    const auto it = ys.find(key);
    if (it == ys.end() || compare_entry(key, *x, *it->second, tolerance, progress).changes != 0) {
      ++changed;
    }
  }
  progress.finish();
  if (changed == 0) {
    return "with that, all " + plural(xs.size(), "tensor") + " are equal (" +
           (tolerance.atol == 0 && tolerance.rtol == 0 ? "exactly" : "within the tolerance") + ")";
  }
  return "with that, " + grouped(changed) + " of " + plural(xs.size(), "tensor") +
         " still differ: convert, then diff again for the details";
}

std::vector<std::string> hints(const Side& a, const Side& b, const std::vector<Entry>& changed,
                               std::size_t only_a, std::size_t only_b, const Tolerance& tolerance,
                               bool quiet, bool& keys_explained) {
  std::vector<std::string> out;
  keys_explained = false;
  const std::vector<KeyView> views_a = key_views(a);
  const std::vector<KeyView> views_b = key_views(b);
  if (views_a[0].keys != views_b[0].keys) {
    // The first pairing that explains the key sets, whole files first.
    for (const KeyView& va : views_a) {
      for (const KeyView& vb : views_b) {
        Fix fix_a{va.sub, ""};
        Fix fix_b{vb.sub, ""};
        if (auto prefix = added_prefix(va.keys, vb.keys)) {
          fix_b.strip_prefix = *prefix;
        } else if (auto reverse = added_prefix(vb.keys, va.keys)) {
          fix_a.strip_prefix = *reverse;
        } else {
          continue;
        }
        // A prefix that is a sub-tree's name is better said with --only, which the
        // pairing with that sub-tree finds.
        if (names_sub_tree(views_a, fix_a) || names_sub_tree(views_b, fix_b)) continue;
        if (fix_a.needed()) out.push_back(fix_hint(a, b, fix_a));
        if (fix_b.needed()) out.push_back(fix_hint(b, a, fix_b));
        out.push_back(after_fix(a, fix_a, b, fix_b, tolerance, quiet));
        keys_explained = true;
        break;
      }
      if (keys_explained) break;
    }
    if (!keys_explained && !views_a[0].keys.empty() && !views_b[0].keys.empty()) {
      std::size_t missing = 0;
      for (const std::string& key : views_a[0].keys) missing += views_b[0].keys.count(key) == 0;
      std::size_t unexpected = 0;
      for (const std::string& key : views_b[0].keys) unexpected += views_a[0].keys.count(key) == 0;
      out.push_back("loading " + b.file + " into a model whose state_dict is " + a.file +
                    " reports " + plural(missing, "missing key") + " and " +
                    plural(unexpected, "unexpected key") +
                    " (load_state_dict(strict=False) skips them)");
    }
  }
  std::size_t shapes = 0;
  std::size_t dtypes = 0;
  for (const Entry& entry : changed) {
    if (entry.changes & kShape) {
      ++shapes;
    } else if (entry.changes & kDType) {
      ++dtypes;
    }
  }
  if (shapes > 0) {
    out.push_back(plural(shapes, "tensor") + (shapes == 1 ? " differs" : " differ") +
                  " in shape: load_state_dict refuses " + (shapes == 1 ? "it" : "them") +
                  " ('size mismatch'), even with strict=False");
  }
  if (dtypes > 0 && shapes == 0 && only_a == 0 && only_b == 0) {
    out.push_back(
        "keys and shapes match and only dtypes differ: load_state_dict casts to the "
        "model's dtypes, so both load into the same model");
  }
  return out;
}

// --- output ----------------------------------------------------------------------------

std::string number_text(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

std::string json_number(double value) {
  if (std::isnan(value) || std::isinf(value)) return json_string(number_text(value));
  return repr_double(value);
}

std::string stats_text(const ValueStats& stats) {
  if (stats.differing == 0) {
    return "all " + plural(stats.compared, "value") + " equal" +
           (stats.max_abs > 0
                ? " within tolerance (max abs diff " + number_text(stats.max_abs) + ")"
                : "");
  }
  std::string text = grouped(stats.differing) + " of " + plural(stats.compared, "value") +
                     (stats.differing == 1 ? " differs" : " differ");
  std::vector<std::string> details;
  if (stats.differing > stats.nan_mismatches) {
    details.push_back("max abs diff " + number_text(stats.max_abs));
    details.push_back("max rel diff " + number_text(stats.max_rel));
  }
  if (stats.nan_mismatches > 0)
    details.push_back(grouped(stats.nan_mismatches) + " NaN on one side only");
  text += " (";
  for (std::size_t i = 0; i < details.size(); ++i) text += (i ? ", " : "") + details[i];
  return text + ")";
}

std::string change_text(const Entry& entry) {
  if (entry.changes & (kType | kValue)) {
    return describe_leaf(*entry.a) + " -> " + describe_leaf(*entry.b);
  }
  const Tensor& a = entry.a->as_tensor();
  const Tensor& b = entry.b->as_tensor();
  std::vector<std::string> parts;
  if (entry.changes & kDType) {
    parts.push_back("dtype " + std::string(dtype_name(a.dtype())) + " -> " +
                    std::string(dtype_name(b.dtype())));
  }
  if (entry.changes & kShape) {
    parts.push_back("shape " + shape_text(a.sizes()) + " -> " + shape_text(b.sizes()));
  } else {
    std::string prefix = (entry.changes & kDType) ? ""
                                                  : std::string(dtype_name(a.dtype())) + " " +
                                                        shape_text(a.sizes()) + ": ";
    parts.push_back(prefix + stats_text(*entry.stats));
  }
  std::string text;
  for (std::size_t i = 0; i < parts.size(); ++i) text += (i ? "; " : "") + parts[i];
  return text;
}

std::string shown_key(const std::string& key) { return key.empty() ? "(top level)" : key; }

void print_section(const std::string& title, std::size_t count, std::size_t limit,
                   const std::function<void(std::size_t)>& line) {
  if (count == 0) return;
  std::cout << title << " (" << grouped(count) << "):\n";
  const std::size_t shown = std::min(count, limit);
  for (std::size_t i = 0; i < shown; ++i) line(i);
  if (shown < count)
    std::cout << "  ... and " << grouped(count - shown) << " more (--all lists every key)\n";
}

void write_side_json(std::ostream& out, const Side& side) {
  out << "{\"file\": " << json_string(side.file)
      << ", \"format\": " << json_string(file_format_name(side.format)) << "}";
}

void write_keys_json(std::ostream& out, const std::vector<const Leaf*>& leaves) {
  out << "[";
  for (std::size_t i = 0; i < leaves.size(); ++i) {
    out << (i ? ", " : "") << json_string(leaves[i]->key);
  }
  out << "]";
}

Side load_side(const std::string& file, bool quiet) {
  Side side;
  side.file = file;
  side.format = detect_format(file);
  side.content = load_to_look_at(file, quiet);
  side.leaves = dotted_leaves(side.content);
  return side;
}

}  // namespace

int run_diff(const DiffArgs& args) {
  const Side a = load_side(args.a, args.quiet);
  const Side b = load_side(args.b, args.quiet);
  const Tolerance tolerance{args.atol, args.rtol};

  std::unordered_map<std::string_view, const Leaf*> b_by_key;
  b_by_key.reserve(b.leaves.size());
  for (const Leaf& leaf : b.leaves) b_by_key.emplace(leaf.key, &leaf);

  std::vector<const Leaf*> only_a, only_b;
  std::vector<std::pair<const Leaf*, const Leaf*>> common;
  std::uint64_t work = 0;
  for (const Leaf& leaf : a.leaves) {
    const auto it = b_by_key.find(leaf.key);
    if (it == b_by_key.end()) {
      only_a.push_back(&leaf);
      continue;
    }
    common.emplace_back(&leaf, it->second);
    const Value& x = *leaf.value;
    const Value& y = *it->second->value;
    if (x.is_tensor() && y.is_tensor() && x.as_tensor().sizes() == y.as_tensor().sizes()) {
      work += x.as_tensor().nbytes() + y.as_tensor().nbytes();
    }
  }
  {
    std::unordered_map<std::string_view, bool> in_a;
    in_a.reserve(a.leaves.size());
    for (const Leaf& leaf : a.leaves) in_a.emplace(leaf.key, true);
    for (const Leaf& leaf : b.leaves) {
      if (!in_a.contains(leaf.key)) only_b.push_back(&leaf);
    }
  }

  std::vector<Entry> changed;
  std::uint64_t values_compared = 0;
  double max_abs = 0;
  Progress progress("diff", work, args.quiet);
  for (const auto& [x, y] : common) {
    Entry entry = compare_entry(x->key, *x->value, *y->value, tolerance, progress);
    if (entry.stats) {
      values_compared += entry.stats->compared;
      max_abs = std::max(max_abs, entry.stats->max_abs);
    }
    if (entry.changes != 0) changed.push_back(std::move(entry));
  }
  progress.finish();

  const bool equal = only_a.empty() && only_b.empty() && changed.empty();
  bool keys_explained = false;
  const std::vector<std::string> advice =
      hints(a, b, changed, only_a.size(), only_b.size(), tolerance, args.quiet, keys_explained);
  const std::size_t equal_count = common.size() - changed.size();

  if (args.json) {
    std::ostream& out = std::cout;
    out << "{\n  \"a\": ";
    write_side_json(out, a);
    out << ",\n  \"b\": ";
    write_side_json(out, b);
    out << ",\n  \"atol\": " << json_number(args.atol)
        << ",\n  \"rtol\": " << json_number(args.rtol)
        << ",\n  \"equal\": " << (equal ? "true" : "false") << ",\n  \"only_in_a\": ";
    write_keys_json(out, only_a);
    out << ",\n  \"only_in_b\": ";
    write_keys_json(out, only_b);
    out << ",\n  \"changed\": [";
    for (std::size_t i = 0; i < changed.size(); ++i) {
      const Entry& entry = changed[i];
      out << (i ? "," : "") << "\n    {\"key\": " << json_string(entry.key) << ", \"changes\": [";
      const char* names[] = {"type", "dtype", "shape", "values", "value"};
      bool first = true;
      for (unsigned bit = 0; bit < 5; ++bit) {
        if (entry.changes & (1u << bit)) {
          out << (first ? "" : ", ") << json_string(names[bit]);
          first = false;
        }
      }
      out << "], \"a\": ";
      write_json(out, *entry.a, {}, 4);
      out << ", \"b\": ";
      write_json(out, *entry.b, {}, 4);
      if (entry.stats) {
        const ValueStats& s = *entry.stats;
        out << ", \"values\": {\"compared\": " << s.compared << ", \"differing\": " << s.differing
            << ", \"nan_mismatches\": " << s.nan_mismatches
            << ", \"max_abs\": " << json_number(s.max_abs)
            << ", \"max_rel\": " << json_number(s.max_rel) << "}";
      }
      out << "}";
    }
    out << (changed.empty() ? "" : "\n  ") << "],\n  \"summary\": {\"equal\": " << equal_count
        << ", \"changed\": " << changed.size() << ", \"only_in_a\": " << only_a.size()
        << ", \"only_in_b\": " << only_b.size() << ", \"values_compared\": " << values_compared
        << ", \"max_abs\": " << json_number(max_abs) << "},\n  \"hints\": [";
    for (std::size_t i = 0; i < advice.size(); ++i) {
      out << (i ? ", " : "") << json_string(advice[i]);
    }
    out << "]\n}\n";
    return equal ? kExitOk : kExitBadInput;
  }

  std::cout << "--- " << a.file << " (" << file_format_name(a.format) << ")\n"
            << "+++ " << b.file << " (" << file_format_name(b.format) << ")\n";
  // Keys a hint explains need only a few examples.
  const std::size_t limit =
      args.all ? SIZE_MAX : (keys_explained ? kExplainedListLimit : kListLimit);
  print_section("only in " + a.file, only_a.size(), limit, [&](std::size_t i) {
    std::cout << "  - " << shown_key(only_a[i]->key) << ": " << describe_leaf(*only_a[i]->value)
              << "\n";
  });
  print_section("only in " + b.file, only_b.size(), limit, [&](std::size_t i) {
    std::cout << "  + " << shown_key(only_b[i]->key) << ": " << describe_leaf(*only_b[i]->value)
              << "\n";
  });
  print_section("changed", changed.size(), args.all ? SIZE_MAX : kListLimit, [&](std::size_t i) {
    std::cout << "  ~ " << shown_key(changed[i].key) << ": " << change_text(changed[i]) << "\n";
  });
  for (const std::string& hint : advice) std::cout << "hint: " << hint << "\n";

  const std::string within =
      (args.atol == 0 && args.rtol == 0)
          ? std::string("exactly")
          : "within atol " + number_text(args.atol) + ", rtol " + number_text(args.rtol);
  if (equal) {
    std::cout << "equal: " << plural(common.size(), "key") << ", "
              << plural(values_compared, "tensor value") << " match " << within;
    if (max_abs > 0) std::cout << " (max abs diff " << number_text(max_abs) << ")";
    std::cout << "\n";
    return kExitOk;
  }
  std::vector<std::string> parts;
  if (!common.empty()) {
    parts.push_back(grouped(changed.size()) + " of " + plural(common.size(), "common key") +
                    " changed (values compared " + within + ")");
  }
  if (!only_a.empty()) parts.push_back(plural(only_a.size(), "key") + " only in " + a.file);
  if (!only_b.empty()) parts.push_back(plural(only_b.size(), "key") + " only in " + b.file);
  if (common.empty()) parts.push_back("no key in common");
  std::cout << "differ: ";
  for (std::size_t i = 0; i < parts.size(); ++i) std::cout << (i ? ", " : "") << parts[i];
  std::cout << "\n";
  return kExitBadInput;
}

}  // namespace mnemo::cli
