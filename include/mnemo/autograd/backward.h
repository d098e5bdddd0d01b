// Reverse-mode differentiation: backward() walks the graph recorded behind `tensors`
// and accumulates, into the grad() of every leaf that requires grad, the gradient of
// sum_i <tensors[i], grad_tensors[i]> with respect to that leaf — PyTorch's
// torch.autograd.backward.
//
//   Tensor loss = cross_entropy(model.forward(x), y);
//   loss.backward();          // a scalar needs no gradient argument
//   model.parameters()[0].grad();
//
// Gradients accumulate as in PyTorch: the first backward gives a leaf a new grad tensor
// (aliasing nothing), later ones add into it in place; Module::zero_grad resets them.
// Each node's saved tensors are freed once it has run, unless retain_graph is set; a
// second backward through a node whose tensors were freed throws. Not thread-safe:
// one backward at a time on any given graph.
#pragma once

#include <vector>

#include "mnemo/core/tensor.h"

namespace mnemo::autograd {

// grad_tensors: one per tensor, of its shape (any floating dtype; cast to the tensor's),
// or empty / undefined entries for tensors with one element (the gradient is 1).
// Throws kInvalidArgument for a tensor that does not require grad, a missing gradient
// for a tensor of more than one element, a gradient of the wrong shape, and a second
// backward through freed state.
void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors = {},
              bool retain_graph = false);

// One tensor: the same as tensor.backward(gradient, retain_graph).
void backward(const Tensor& tensor, const Tensor& gradient = Tensor(), bool retain_graph = false);

}  // namespace mnemo::autograd
