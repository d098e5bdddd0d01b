// backward(): the graph behind the roots is walked once in dependency order — a node runs
// when every node that feeds it gradient has run — with an explicit work list, so that
// graphs of any depth are walked without recursion.
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "autograd/function.h"
#include "autograd/grad_math.h"
#include "mnemo/autograd/backward.h"

namespace mnemo::autograd {
namespace {

constexpr const char* kSecondBackward =
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward.";

// "[2, 3]", as PyTorch prints sizes in the engine's messages.
std::string list_repr(const Shape& sizes) {
  std::string text = "[";
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(sizes[i]);
  }
  return text + "]";
}

// Gradients arriving at each node's output slots, summed as they come.
class InputBuffers {
 public:
  void add(const Edge& edge, Tensor grad) {
    std::vector<Tensor>& slots = buffers_[edge.function.get()];
    if (slots.empty()) slots.resize(edge.function->num_outputs());
    Tensor& slot = slots[edge.input_nr];
    slot = slot.defined() ? detail::add_gradients(slot, grad) : std::move(grad);
  }
  // The node's gradients (undefined slots where none arrived); forgets them.
  std::vector<Tensor> take(Node* node) {
    auto it = buffers_.find(node);
    if (it == buffers_.end()) return std::vector<Tensor>(node->num_outputs());
    std::vector<Tensor> grads = std::move(it->second);
    buffers_.erase(it);
    return grads;
  }

 private:
  std::unordered_map<Node*, std::vector<Tensor>> buffers_;
};

// Checks a gradient a node returned against the slot it flows into, and casts it to
// that slot's dtype (an input of another dtype than the computation, as float32 + float64).
Tensor validate(Tensor grad, const Edge& edge, const Node& producer, std::size_t index) {
  const OutputMeta& meta = edge.function->output_meta(edge.input_nr);
  if (grad.sizes() != meta.sizes) {
    fail(ErrorCode::kInvalidArgument, "Function ", producer.name(),
         " returned an invalid gradient at index ", index, " - got ", list_repr(grad.sizes()),
         " but expected shape compatible with ", list_repr(meta.sizes));
  }
  MNEMO_CHECK(!is_complex(grad.dtype()), "Function ", producer.name(),
              " returned a complex gradient: mnemo's autograd supports real dtypes only");
  if (grad.dtype() != meta.dtype) grad = grad.to(meta.dtype);
  return grad;
}

// For every node reachable from `roots`, how many edges lead to it from reachable nodes.
std::unordered_map<Node*, int> count_dependencies(const std::vector<Node*>& roots) {
  std::unordered_map<Node*, int> dependencies;
  std::unordered_set<Node*> seen(roots.begin(), roots.end());
  std::vector<Node*> stack(seen.begin(), seen.end());
  while (!stack.empty()) {
    Node* node = stack.back();
    stack.pop_back();
    for (const Edge& edge : node->next_edges()) {
      if (!edge.is_valid()) continue;
      Node* next = edge.function.get();
      ++dependencies[next];
      if (seen.insert(next).second) stack.push_back(next);
    }
  }
  return dependencies;
}

}  // namespace

void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors,
              bool retain_graph) {
  MNEMO_CHECK(grad_tensors.empty() || grad_tensors.size() == tensors.size(), "backward: got ",
              grad_tensors.size(), " gradients for ", tensors.size(), " tensors");
  NoGradGuard no_grad;  // backward formulas are not recorded (no create_graph)

  InputBuffers buffers;
  std::vector<Node*> roots;
  std::vector<Edge> root_edges;  // keep the root nodes alive for the whole pass
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    MNEMO_CHECK(t.defined(), "backward: tensor ", i, " is undefined");
    if (!t.requires_grad()) {
      fail(ErrorCode::kInvalidArgument, "element ", i,
           " of tensors does not require grad and does not have a grad_fn");
    }
    Tensor grad = i < grad_tensors.size() ? grad_tensors[i] : Tensor();
    if (!grad.defined()) {
      if (t.numel() != 1) {
        fail(ErrorCode::kInvalidArgument, "grad can be implicitly created only for scalar outputs");
      }
      grad = ones(t.sizes(), {.dtype = t.dtype()});
    } else {
      if (grad.sizes() != t.sizes()) {
        fail(ErrorCode::kInvalidArgument, "Mismatch in shape: grad_output[", i, "] has a shape of ",
             shape_repr(grad.sizes()), " and output[", i, "] has a shape of ",
             shape_repr(t.sizes()), ".");
      }
      MNEMO_CHECK(is_floating_point(grad.dtype()), "backward: the gradient for tensor ", i,
                  " must have a floating dtype, got ", dtype_name(grad.dtype()));
      if (grad.dtype() != t.dtype()) grad = grad.to(t.dtype());
    }
    Edge edge = detail::gradient_edge(t);
    buffers.add(edge, std::move(grad));
    roots.push_back(edge.function.get());
    root_edges.push_back(std::move(edge));
  }

  std::unordered_map<Node*, int> dependencies = count_dependencies(roots);
  std::vector<Node*> ready;
  std::unordered_set<Node*> seeded;
  for (Node* root : roots) {  // in the caller's order, so that sums are reproducible
    if (dependencies[root] == 0 && seeded.insert(root).second) ready.push_back(root);
  }

  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    std::vector<Tensor> grads = buffers.take(node);
    bool any_defined = false;
    for (const Tensor& g : grads) any_defined = any_defined || g.defined();

    std::vector<Tensor> results;
    if (any_defined) {
      if (node->released() && node->saves_variables()) {
        fail(ErrorCode::kInvalidArgument, kSecondBackward);
      }
      results = node->apply(std::move(grads));
      MNEMO_CHECK(results.size() == node->num_inputs(), "Function ", node->name(),
                  " returned an incorrect number of gradients (expected ", node->num_inputs(),
                  ", got ", results.size(), ")");
    }
    if (!retain_graph) node->release();

    for (std::size_t i = 0; i < node->num_inputs(); ++i) {
      const Edge& edge = node->next_edges()[i];
      if (!edge.is_valid()) continue;
      if (any_defined && results[i].defined()) {
        buffers.add(edge, validate(std::move(results[i]), edge, *node, i));
      }
      if (--dependencies[edge.function.get()] == 0) ready.push_back(edge.function.get());
    }
  }
}

void backward(const Tensor& tensor, const Tensor& gradient, bool retain_graph) {
  backward(std::vector<Tensor>{tensor}, std::vector<Tensor>{gradient}, retain_graph);
}

}  // namespace mnemo::autograd

namespace mnemo {

void Tensor::backward(const Tensor& gradient, bool retain_graph) const {
  autograd::backward(*this, gradient, retain_graph);
}

}  // namespace mnemo
