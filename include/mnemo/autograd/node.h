// The nodes of the backward graph. An operation on tensors that require grad, run while
// GradMode is enabled, records one Node: what its backward needs (saved tensors, shapes,
// options) and an Edge to the node of each input. The node becomes the grad_fn() of the
// operation's output. A leaf tensor (one the user made, requires_grad set) is reached
// through an AccumulateGrad node that adds into its grad().
//
// Ownership runs one way, from outputs towards inputs: a tensor owns its grad_fn, a node
// owns the nodes of its inputs and what it saved; a node never owns its own outputs (it
// saves them detached), so a graph is freed as soon as its last output goes. Freeing is
// iterative, so that very deep graphs cannot overflow the stack.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mnemo/core/tensor.h"

namespace mnemo::autograd {

class Node;

// Where a gradient goes: the forward output `input_nr` of `function` (PyTorch's Edge;
// the index is the slot of `function`'s apply() that receives it). An edge without a
// function stands for a forward input that needs no gradient.
struct Edge {
  std::shared_ptr<Node> function;
  std::uint32_t input_nr = 0;

  bool is_valid() const { return function != nullptr; }
};

// The shape and dtype of one forward output: the engine checks (and casts) the
// gradients that flow into that slot against it.
struct OutputMeta {
  Shape sizes;
  DType dtype = DType::kFloat32;
};

class Node {
 public:
  virtual ~Node() = default;
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // PyTorch's name for the backward of the operation, e.g. "MulBackward0".
  virtual std::string name() const = 0;

  // Gradients of the forward outputs in (one per output_meta slot, undefined where
  // nothing flowed), gradients of the forward inputs out: one per next edge, undefined
  // for inputs that need none. Runs with GradMode disabled.
  virtual std::vector<Tensor> apply(std::vector<Tensor>&& grads) = 0;

  // Whether apply() needs saved state that release_variables() frees. Backward frees it
  // after running the node (unless retain_graph), and a second backward through such a
  // node is refused with PyTorch's message.
  virtual bool saves_variables() const { return false; }
  virtual void release_variables() {}

  const std::vector<Edge>& next_edges() const { return next_edges_; }
  std::size_t num_inputs() const { return next_edges_.size(); }  // forward inputs
  // Whether forward input `index` needs a gradient (its edge leads somewhere).
  bool needs_input_grad(std::size_t index) const {
    return index < next_edges_.size() && next_edges_[index].is_valid();
  }
  std::size_t num_outputs() const { return outputs_.size(); }  // forward outputs
  const OutputMeta& output_meta(std::size_t index) const;

  // Recording (done by the operations): the edges to the inputs' nodes, then one call
  // per output, which returns the output's slot number.
  void set_next_edges(std::vector<Edge> edges) { next_edges_ = std::move(edges); }
  std::uint32_t add_output(const Tensor& output);

  // Called by backward after apply() when the graph is not retained.
  void release() {
    released_ = true;
    release_variables();
  }
  bool released() const { return released_; }

 protected:
  Node() = default;

 private:
  std::vector<Edge> next_edges_;
  std::vector<OutputMeta> outputs_;
  bool released_ = false;
};

namespace detail {
// Deletes a node without recursing into the nodes it owns (see make_node).
void delete_node(Node* node) noexcept;
}  // namespace detail

// Creates a node owned by a shared_ptr whose deleter frees chains of nodes iteratively.
// Every Node must be created this way.
template <class N, class... Args>
std::shared_ptr<N> make_node(Args&&... args) {
  static_assert(std::is_base_of_v<Node, N>, "make_node makes autograd::Node subclasses");
  return std::shared_ptr<N>(new N(std::forward<Args>(args)...),
                            [](N* node) { detail::delete_node(node); });
}

}  // namespace mnemo::autograd
