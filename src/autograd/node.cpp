// Node bookkeeping, iterative deletion, AccumulateGrad, and how tensors connect to nodes.
#include "mnemo/autograd/node.h"

#include <vector>

#include "autograd/accumulate_grad.h"
#include "autograd/function.h"
#include "autograd/grad_math.h"
#include "core/tensor_impl.h"

namespace mnemo::autograd {

const OutputMeta& Node::output_meta(std::size_t index) const {
  MNEMO_CHECK(index < outputs_.size(), name(), " has ", outputs_.size(), " outputs, not ",
              index + 1);
  return outputs_[index];
}

std::uint32_t Node::add_output(const Tensor& output) {
  outputs_.push_back(OutputMeta{output.sizes(), output.dtype()});
  return static_cast<std::uint32_t>(outputs_.size() - 1);
}

namespace detail {

// Deleting a node releases its edges and saved tensors, which may release the next
// node, and so on down a chain as long as the graph is deep. Only the outermost call on
// a thread deletes; nodes released meanwhile are queued and deleted by its loop, so the
// stack depth stays constant.
void delete_node(Node* node) noexcept {
  thread_local std::vector<Node*>* pending = nullptr;
  if (pending != nullptr) {
    pending->push_back(node);
    return;
  }
  std::vector<Node*> queue{node};
  pending = &queue;
  while (!queue.empty()) {
    Node* next = queue.back();
    queue.pop_back();
    delete next;  // may push onto `queue`
  }
  pending = nullptr;
}

AccumulateGrad::AccumulateGrad(Tensor variable) : variable_(std::move(variable)) {
  add_output(variable_);
}

std::vector<Tensor> AccumulateGrad::apply(std::vector<Tensor>&& grads) {
  Tensor incoming = std::move(grads.at(0));
  if (!incoming.defined()) return {};
  const Tensor current = variable_.grad();
  if (current.defined()) {
    add_into(current, incoming);
    return {};
  }
  // Steal the gradient when this is the only handle to it and to its memory (a fresh
  // result of some backward); otherwise it may alias another tensor: copy.
  const bool sole_owner = TensorImpl::use_count(incoming) == 1 &&
                          incoming.storage().use_count() == 1 && incoming.is_contiguous() &&
                          incoming.storage_offset() == 0;
  variable_.set_grad(sole_owner ? incoming : incoming.clone());
  return {};
}

Edge gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return {};
  if (const auto& fn = t.grad_fn()) return Edge{fn, t.output_nr()};
  AutogradMeta& meta = TensorImpl::mutable_of(t).mutable_autograd_meta();
  std::shared_ptr<Node> accumulator = meta.grad_accumulator.lock();
  // A leaf re-pointed by set_ (under NoGradGuard) since its accumulator was made gets a
  // new one with its new shape.
  if (!accumulator || accumulator->output_meta(0).sizes != t.sizes() ||
      accumulator->output_meta(0).dtype != t.dtype()) {
    accumulator = make_node<AccumulateGrad>(t);
    meta.grad_accumulator = accumulator;
  }
  return Edge{std::move(accumulator), 0};
}

void set_history(const Tensor& output, const std::shared_ptr<Node>& node) {
  TensorImpl& impl = TensorImpl::mutable_of(output);
  AutogradMeta& meta = impl.mutable_autograd_meta();
  meta.output_nr = node->add_output(output);
  meta.grad_fn = node;
  impl.requires_grad = true;
}

}  // namespace detail
}  // namespace mnemo::autograd
