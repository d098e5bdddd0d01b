// What an operation needs to join the graph: whether to record, the edges to its
// inputs, and marking its output. Private to the library (the ops layer uses it).
//
//   Tensor relu(const Tensor& x) {
//     Tensor out = autograd::detail::without_grad([&] { return relu_kernel(x); });
//     if (autograd::detail::any_requires_grad(x)) {
//       autograd::detail::record(autograd::make_node<ReluBackward>(out.detach()), out, x);
//     }
//     return out;
//   }
#pragma once

#include <memory>
#include <utility>

#include "mnemo/autograd/grad_mode.h"
#include "mnemo/autograd/node.h"
#include "mnemo/core/tensor.h"

namespace mnemo::autograd::detail {

inline bool requires_grad(const Tensor& t) { return t.defined() && t.requires_grad(); }

// Whether an operation on these inputs records a node: GradMode is enabled and one of
// them requires grad.
template <class... Tensors>
bool any_requires_grad(const Tensors&... inputs) {
  return GradMode::is_enabled() && (requires_grad(inputs) || ...);
}

// Runs an operation's forward computation with recording off, so that the views and
// copies it makes internally stay out of the graph; the operation records one node.
template <class Fn>
auto without_grad(Fn&& fn) {
  NoGradGuard guard;
  return std::forward<Fn>(fn)();
}

// The edge a gradient for `t` takes: its grad_fn, or for a leaf that requires grad its
// AccumulateGrad node (made on first use and shared while alive). An invalid edge when
// `t` is undefined or needs no gradient.
Edge gradient_edge(const Tensor& t);

// Makes `node` the grad_fn of `output` (its next output slot): output requires grad.
void set_history(const Tensor& output, const std::shared_ptr<Node>& node);

// Connects `node` to one edge per input, in order, and makes it `output`'s grad_fn.
template <class... Inputs>
void record(const std::shared_ptr<Node>& node, const Tensor& output, const Inputs&... inputs) {
  node->set_next_edges({gradient_edge(inputs)...});
  set_history(output, node);
}

}  // namespace mnemo::autograd::detail
