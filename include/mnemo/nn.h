// The nn layer: Module and PyTorch's layers.
#pragma once

#include "mnemo/nn/activation.h"     // IWYU pragma: export
#include "mnemo/nn/batchnorm.h"      // IWYU pragma: export
#include "mnemo/nn/container.h"      // IWYU pragma: export
#include "mnemo/nn/conv.h"           // IWYU pragma: export
#include "mnemo/nn/embedding.h"      // IWYU pragma: export
#include "mnemo/nn/init.h"           // IWYU pragma: export
#include "mnemo/nn/linear.h"         // IWYU pragma: export
#include "mnemo/nn/module.h"         // IWYU pragma: export
#include "mnemo/nn/module_registry.h"  // IWYU pragma: export
#include "mnemo/nn/normalization.h"  // IWYU pragma: export
#include "mnemo/nn/pooling.h"        // IWYU pragma: export
