// matmul and linear: every product goes to OpenBLAS, reading strided operands in
// place when their layout allows it.
#include "mnemo/ops/linalg.h"

#include <cstdint>

#include "autograd/function.h"
#include "core/strided_loop.h"
#include "mnemo/ops/elementwise.h"
#include "mnemo/ops/reduction.h"
#include "ops/checks.h"
#include "ops/gemm.h"
#include "ops/grad_util.h"

namespace mnemo {
namespace {

// The last two dimensions of m as a BLAS operand; m becomes a contiguous copy when
// BLAS cannot read it in place.
detail::BlasLayout matrix_layout(Tensor& m) {
  const std::int64_t rows = m.size(-2);
  const std::int64_t cols = m.size(-1);
  if (auto layout = detail::blas_layout(rows, cols, m.stride(-2), m.stride(-1))) return *layout;
  m = m.contiguous();
  return *detail::blas_layout(rows, cols, m.stride(-2), m.stride(-1));
}

std::string shape_text(std::int64_t rows, std::int64_t cols) {
  return std::to_string(rows) + "x" + std::to_string(cols);
}

Tensor matmul_forward(const Tensor& a, const Tensor& b);
Tensor linear_forward(const Tensor& input, const Tensor& weight, const Tensor& bias);

// matmul's operands as batched matrices: a vector is a one-row (left) or one-column
// (right) matrix, as in the forward.
Tensor as_left_matrix(const Tensor& t) { return t.dim() == 1 ? t.unsqueeze(0) : t; }
Tensor as_right_matrix(const Tensor& t) { return t.dim() == 1 ? t.unsqueeze(1) : t; }

// d(a @ b): da = g @ b^T, db = a^T @ g, each summed over the batch dimensions that
// broadcasting added to its operand, through the same BLAS products as the forward.
class MatmulBackward : public autograd::Node {
 public:
  MatmulBackward(Tensor a, Tensor b) : a_(std::move(a)), b_(std::move(b)) {}

  std::string name() const override { return "MmBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override {
    a_ = Tensor();
    b_ = Tensor();
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const Tensor lhs = as_left_matrix(a_), rhs = as_right_matrix(b_);
    // The gradient as a batch of (n, p) matrices: the dimensions of vector operands back.
    Shape full = broadcast_shapes(Shape(lhs.sizes().begin(), lhs.sizes().end() - 2),
                                  Shape(rhs.sizes().begin(), rhs.sizes().end() - 2));
    full.push_back(lhs.size(-2));
    full.push_back(rhs.size(-1));
    const Tensor g = grads.at(0).reshape(full);
    Tensor da, db;
    if (needs_input_grad(0)) {
      da =
          detail::sum_to(matmul_forward(g, rhs.transpose(-1, -2)), lhs.sizes()).reshape(a_.sizes());
    }
    if (needs_input_grad(1)) {
      if (rhs.dim() == 2 && lhs.dim() > 2) {
        // One right matrix for the whole batch: fold the batch into rows, one GEMM.
        const std::int64_t k = lhs.size(-1), p = rhs.size(-1);
        db = matmul_forward(lhs.reshape({-1, k}).t(), g.reshape({-1, p}));
      } else {
        db = detail::sum_to(matmul_forward(lhs.transpose(-1, -2), g), rhs.sizes());
      }
      db = db.reshape(b_.sizes());
    }
    return {da, db};
  }

 private:
  Tensor a_, b_;
};

// y = x W^T + b over rows x (rows, in): dx = g W, dW = g^T x, db = the column sums of g.
class LinearBackward : public autograd::Node {
 public:
  LinearBackward(Tensor input, Tensor weight, bool has_bias)
      : input_(std::move(input)), weight_(std::move(weight)), has_bias_(has_bias) {}

  std::string name() const override { return has_bias_ ? "AddmmBackward0" : "MmBackward0"; }
  bool saves_variables() const override { return true; }
  void release_variables() override {
    input_ = Tensor();
    weight_ = Tensor();
  }

  std::vector<Tensor> apply(std::vector<Tensor>&& grads) override {
    const std::int64_t in_features = weight_.size(1), out_features = weight_.size(0);
    const Tensor g = grads.at(0).reshape({-1, out_features});
    Tensor dx, dw, db;
    if (needs_input_grad(0)) dx = matmul_forward(g, weight_).reshape(input_.sizes());
    if (needs_input_grad(1)) dw = matmul_forward(g.t(), input_.reshape({g.size(0), in_features}));
    if (needs_input_grad(2)) db = sum(g, {0});
    return {dx, dw, db};
  }

 private:
  Tensor input_, weight_;
  bool has_bias_;
};

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  const bool record = autograd::detail::any_requires_grad(a, b);
  Tensor out = autograd::detail::without_grad([&] { return matmul_forward(a, b); });
  if (record) autograd::detail::record(autograd::make_node<MatmulBackward>(a, b), out, a, b);
  return out;
}

Tensor linear(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  const bool record = autograd::detail::any_requires_grad(input, weight, bias);
  Tensor out = autograd::detail::without_grad([&] { return linear_forward(input, weight, bias); });
  if (record) {
    autograd::detail::record(autograd::make_node<LinearBackward>(input, weight, bias.defined()),
                             out, input, weight, bias);
  }
  return out;
}

namespace {

Tensor matmul_forward(const Tensor& a, const Tensor& b) {
  detail::check_float_input("matmul", a, "input");
  detail::check_float_input("matmul", b, "other");
  detail::check_same_dtype("matmul", a, "input", b, "other");
  MNEMO_CHECK(a.dim() >= 1 && b.dim() >= 1,
              "matmul: both arguments need at least 1 dimension, got ", a.dim(), "D and ", b.dim(),
              "D");
  // A vector is a one-row (left) or one-column (right) matrix, removed from the result.
  const bool a_vector = a.dim() == 1;
  const bool b_vector = b.dim() == 1;
  Tensor lhs = a_vector ? a.unsqueeze(0) : a;
  Tensor rhs = b_vector ? b.unsqueeze(1) : b;
  const std::int64_t n = lhs.size(-2);
  const std::int64_t k = lhs.size(-1);
  const std::int64_t p = rhs.size(-1);
  MNEMO_CHECK(k == rhs.size(-2), "matmul: mat1 and mat2 shapes cannot be multiplied (",
              shape_text(n, k), " and ", shape_text(rhs.size(-2), p), "); operand shapes ",
              shape_repr(a.sizes()), " and ", shape_repr(b.sizes()));

  const Shape lhs_batch(lhs.sizes().begin(), lhs.sizes().end() - 2);
  const Shape rhs_batch(rhs.sizes().begin(), rhs.sizes().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(lhs_batch, rhs_batch);
  } catch (const Error& e) {
    fail(ErrorCode::kInvalidArgument, "matmul: the batch dimensions of ", shape_repr(a.sizes()),
         " and ", shape_repr(b.sizes()), " do not broadcast: ", e.what());
  }
  Shape out_shape = batch;
  out_shape.push_back(n);
  out_shape.push_back(p);
  Tensor out = empty(out_shape, {.dtype = a.dtype()});

  if (out.numel() > 0 && k == 0) out.zero_();
  if (out.numel() > 0 && k > 0) {
    detail::dispatch_floating(a.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (rhs.dim() == 2 && lhs.dim() > 2) {
        // One matrix on the right: fold the left batch into rows, a single GEMM.
        Tensor rows = lhs.reshape({-1, k});
        const detail::BlasLayout la = matrix_layout(rows);
        const detail::BlasLayout lb = matrix_layout(rhs);
        detail::gemm<T>(rows.size(0), p, k, rows.data<T>(), la, rhs.data<T>(), lb, T{0},
                        out.mutable_data<T>(), p);
        return;
      }
      const detail::BlasLayout la = matrix_layout(lhs);
      const detail::BlasLayout lb = matrix_layout(rhs);
      Shape lhs_full = batch, rhs_full = batch;
      lhs_full.insert(lhs_full.end(), {n, k});
      rhs_full.insert(rhs_full.end(), {k, p});
      const Tensor le = lhs.expand(lhs_full);
      const Tensor re = rhs.expand(rhs_full);
      const Shape out_strides(out.strides().begin(), out.strides().end() - 2);
      const Shape lhs_strides(le.strides().begin(), le.strides().end() - 2);
      const Shape rhs_strides(re.strides().begin(), re.strides().end() - 2);
      const T* pa = le.data<T>();
      const T* pb = re.data<T>();
      T* pc = out.mutable_data<T>();
      detail::for_each_run<3>(batch, {&out_strides, &lhs_strides, &rhs_strides}, {0, 0, 0},
                              [&](const std::array<std::int64_t, 3>& at, std::int64_t count,
                                  const std::array<std::int64_t, 3>& step) {
                                for (std::int64_t i = 0; i < count; ++i) {
                                  detail::gemm<T>(n, p, k, pa + at[1] + i * step[1], la,
                                                  pb + at[2] + i * step[2], lb, T{0},
                                                  pc + at[0] + i * step[0], p);
                                }
                              });
    });
  }
  if (b_vector) out = out.squeeze(-1);
  if (a_vector) out = out.squeeze(b_vector ? -1 : -2);
  return out;
}

Tensor linear_forward(const Tensor& input, const Tensor& weight, const Tensor& bias) {
  detail::check_float_input("linear", input, "input");
  detail::check_float_input("linear", weight, "weight");
  detail::check_same_dtype("linear", input, "input", weight, "weight");
  MNEMO_CHECK(weight.dim() == 2, "linear: weight must be 2-D (out_features, in_features), got ",
              shape_repr(weight.sizes()));
  MNEMO_CHECK(input.dim() >= 1, "linear: input must have at least 1 dimension, got a 0-dim tensor");
  const std::int64_t in_features = input.size(-1);
  const std::int64_t out_features = weight.size(0);
  std::int64_t rows = 1;
  for (std::int64_t d = 0; d + 1 < input.dim(); ++d) rows *= input.size(d);
  MNEMO_CHECK(weight.size(1) == in_features, "linear: mat1 and mat2 shapes cannot be multiplied (",
              shape_text(rows, in_features), " and ", shape_text(weight.size(1), out_features),
              "); input shape ", shape_repr(input.sizes()), ", weight shape ",
              shape_repr(weight.sizes()));
  if (bias.defined()) {
    detail::check_float_input("linear", bias, "bias");
    detail::check_same_dtype("linear", input, "input", bias, "bias");
    MNEMO_CHECK(bias.dim() == 1 && bias.size(0) == out_features, "linear: expected bias of shape ",
                shape_repr({out_features}), ", got ", shape_repr(bias.sizes()));
  }

  Shape out_shape(input.sizes().begin(), input.sizes().end() - 1);
  out_shape.push_back(out_features);
  Tensor out = empty({rows, out_features}, {.dtype = input.dtype()});
  if (out.numel() == 0) return out.view(out_shape);
  if (bias.defined()) {
    out.copy_(bias);  // broadcast over the rows; the GEMM adds onto it
  } else if (in_features == 0) {
    out.zero_();
  }
  if (in_features > 0) {
    Tensor x = input.reshape({rows, in_features});
    Tensor wt = weight.t();
    const detail::BlasLayout lx = matrix_layout(x);
    const detail::BlasLayout lw = matrix_layout(wt);
    detail::dispatch_floating(input.dtype(), [&](auto tag) {
      using T = decltype(tag);
      detail::gemm<T>(rows, out_features, in_features, x.data<T>(), lx, wt.data<T>(), lw,
                      bias.defined() ? T{1} : T{0}, out.mutable_data<T>(), out_features);
    });
  }
  return out.view(out_shape);
}

}  // namespace

}  // namespace mnemo
