#include "mnemo/nn/init.h"

#include <cmath>
#include <vector>

#include "mnemo/autograd/grad_mode.h"
#include "mnemo/core/error.h"
#include "nn/deferred_init.h"

namespace mnemo::nn::init {
namespace {

// Records `fill` of `tensor` when a deferral is alive on this thread (true), or leaves it
// to the caller (false).
bool deferred(const Tensor& tensor, std::function<void(const Tensor&)> fill) {
  DeferredInit* deferral = DeferredInit::current();
  if (!deferral) return false;
  (void)tensor.mutable_data_ptr();  // refuses read-only memory now, as the fill would
  deferral->record(tensor, std::move(fill));
  return true;
}

Generator& pick(Generator* generator) { return generator ? *generator : default_generator(); }

void require_floating(const Tensor& tensor, const char* what) {
  MNEMO_CHECK(is_floating_point(tensor.dtype()), what, " needs a floating point tensor, got ",
              dtype_name(tensor.dtype()));
}

// Draws into a contiguous double buffer (row-major order), then copies with a cast, so
// that the same generator state gives the same values whatever the tensor's layout.
// Initialisation writes parameters in place outside any graph, as PyTorch's
// torch.nn.init functions do under torch.no_grad().
template <class Draw>
const Tensor& fill_from(const Tensor& tensor, Draw draw) {
  NoGradGuard no_grad;
  Tensor values = empty(tensor.sizes(), {.dtype = DType::kFloat64});
  draw(std::span<double>(values.mutable_data<double>(), static_cast<std::size_t>(values.numel())));
  tensor.copy_(values);
  return tensor;
}

}  // namespace

std::pair<std::int64_t, std::int64_t> fan_in_and_fan_out(const Tensor& weight) {
  MNEMO_CHECK(weight.dim() >= 2,
              "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions");
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < weight.dim(); ++d) receptive *= weight.size(d);
  return {weight.size(1) * receptive, weight.size(0) * receptive};
}

const Tensor& uniform_(const Tensor& tensor, double low, double high, Generator* generator) {
  require_floating(tensor, "uniform_");
  if (!generator && deferred(tensor, [=](const Tensor& t) { uniform_(t, low, high); })) {
    return tensor;
  }
  return fill_from(tensor, [&](std::span<double> out) { pick(generator).fill_uniform(out, low, high); });
}

const Tensor& normal_(const Tensor& tensor, double mean, double std, Generator* generator) {
  require_floating(tensor, "normal_");
  if (!generator && deferred(tensor, [=](const Tensor& t) { normal_(t, mean, std); })) {
    return tensor;
  }
  return fill_from(tensor, [&](std::span<double> out) { pick(generator).fill_normal(out, mean, std); });
}

const Tensor& constant_(const Tensor& tensor, double value) {
  if (deferred(tensor, [=](const Tensor& t) { constant_(t, value); })) return tensor;
  NoGradGuard no_grad;
  return tensor.fill_(value);
}
const Tensor& zeros_(const Tensor& tensor) { return constant_(tensor, 0.0); }
const Tensor& ones_(const Tensor& tensor) { return constant_(tensor, 1.0); }

const Tensor& kaiming_uniform_(const Tensor& tensor, double a, Generator* generator) {
  const auto [fan_in, fan_out] = fan_in_and_fan_out(tensor);
  (void)fan_out;
  if (fan_in == 0) return tensor;  // PyTorch warns and leaves a zero-element tensor alone
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in));
  return uniform_(tensor, -bound, bound, generator);
}

}  // namespace mnemo::nn::init
